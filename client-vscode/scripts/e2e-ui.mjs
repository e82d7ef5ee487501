// What the VS Code e2e drivers share: logging, waiting, screenshots and the workbench gestures
// they use (quick open, go to line, the command palette, notifications, the status bar) on a
// playwright-core page showing code-server. No test logic: e2e.mjs and e2e-functions.mjs decide
// what to check.
import * as fs from 'node:fs';
import * as path from 'node:path';

const started = Date.now();
export const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS ?? '360000');

export const log = (message) => console.log(`[e2e ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const seconds = () => (Date.now() - started) / 1000;

/** Polls `condition` until it returns something truthy (returned); throws after `timeout` ms. */
export async function waitFor(what, condition, timeout = TIMEOUT, interval = 250) {
    const deadline = Date.now() + timeout;
    for (;;) {
        const value = await condition();
        if (value) {
            return value;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
        }
        await sleep(interval);
    }
}

export async function shot(page, dir, name) {
    const file = path.join(dir, name);
    await page.screenshot({ path: file });
    log(`screenshot ${file}`);
}

/** The status bar items' texts. */
export async function statusTexts(page) {
    return page.locator('.statusbar-item').allInnerTexts();
}

/** The editseq status bar item's text ('' when it is not there). */
export async function statusText(page) {
    return (await statusTexts(page)).find((t) => t.includes('editseq')) ?? '';
}

/** Opens `file` (relative to the workspace) with quick open; resolves once its `shows` text is on screen. */
export async function openFile(page, file, shows) {
    await page.keyboard.press('Control+P');
    await page.locator('.quick-input-widget input').waitFor();
    await page.keyboard.type(file, { delay: 20 });
    await page.locator('.quick-input-list .monaco-list-row').filter({ hasText: file }).first().waitFor();
    await sleep(500);
    await page.keyboard.press('Enter');
    await page.locator('.editor-instance .view-lines').filter({ hasText: shows }).first().waitFor();
}

/** Puts the cursor at the end of 1-based `line` of the active editor. */
export async function goToLine(page, line) {
    await page.keyboard.press('Control+G');
    await page.locator('.quick-input-widget input').waitFor();
    await page.keyboard.type(String(line));
    await page.keyboard.press('Enter');
    await page.keyboard.press('End');
}

/** Runs `title` ("editseq: Explain Function") from the command palette. */
export async function runCommand(page, title) {
    await page.keyboard.press('F1');
    await page.locator('.quick-input-widget input').waitFor();
    await page.keyboard.type(title, { delay: 20 });
    const label = title.replace(/^.*?: /, '');
    await page.locator('.quick-input-list .monaco-list-row').filter({ hasText: label }).first().waitFor({ timeout: 30000 });
    await page.keyboard.press('Enter');
}

/** The notification toasts whose text matches `text` (a string or a RegExp). */
export function toasts(page, text) {
    return page.locator('.notifications-toasts .notification-toast').filter({ hasText: text });
}

/** A toast's message, whitespace squashed (without its source and buttons). */
export async function toastMessage(toast) {
    const message = toast.locator('.notification-list-item-message');
    const text = (await message.count()) ? await message.first().innerText() : await toast.innerText();
    return text.replace(/[\s\u00a0]+/g, ' ').trim();
}

/** Saves the active editor and waits until the file on disk differs from `before`. */
export async function saveUntilChanged(page, file, before, timeout = 20000) {
    return waitFor(`${path.basename(file)} saved with the change`, async () => {
        await page.keyboard.press('Control+S');
        await sleep(300);
        const text = fs.readFileSync(file, 'utf8');
        return text !== before ? text : '';
    }, timeout, 700);
}
