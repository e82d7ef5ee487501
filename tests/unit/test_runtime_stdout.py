"""Loading a model leaves the process's stdout alone (it is the server's LSP channel)."""

import os
import threading

from editseq.runtime import ModelRuntime, ModelSpec, base_model_path


def test_stdout_stays_the_channel_while_a_model_loads():
    # llama-cpp-python points fd 1 at /dev/null while it loads, unless told not to: whatever the
    # event loop wrote meanwhile was lost (a client waited for a reply forever)
    seen: set[str] = set()
    done = threading.Event()

    def watch():
        while not done.is_set():
            seen.add(os.readlink("/proc/self/fd/1"))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(3):
            runtime = ModelRuntime(ModelSpec(base_model_path(), n_ctx=512, n_threads=1))
            runtime.load()
            runtime.close()
    finally:
        done.set()
        watcher.join()
    assert "/dev/null" not in seen and len(seen) == 1, seen
