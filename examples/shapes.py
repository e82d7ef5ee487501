"""Small geometry helpers."""

import math


def circle_area(radius):
    """Return the area of a circle with the given radius."""
    return math.pi * radius ** 2


def rectangle_perimeter(width, height):
    """Return the perimeter of a rectangle."""
    
