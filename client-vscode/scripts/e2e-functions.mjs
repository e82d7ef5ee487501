// The function commands in a real VS Code, as a user runs them from the command palette:
// - "editseq: Implement Function" on a stub: the progress in the status bar, the server's question
//   ("Implement add: passes 2/2 docstring examples, sandbox: ... (editseq). Apply it?") answered
//   "Apply", the implementation in the file;
// - the refusal of an edit computed on an older version of the document (docs/protocol.md, #20):
//   typed while that question was open, or while the model was writing a docstring. The server
//   answers `ok: false`, "... changed while ...; ask again"; the extension shows it as a warning
//   naming the file by its workspace path, with an "Ask Again" button, and the file holds exactly
//   what the user typed, nothing of the edit. "Ask Again" runs the command on the function anew.
// Each step ends with the file saved and read back from disk, and throws when a check fails.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
    TIMEOUT, goToLine, log, openFile, runCommand, saveUntilChanged, shot, sleep, statusTexts, toastMessage, toasts,
    waitFor,
} from './e2e-ui.mjs';

/**
 * Waits for the refusal warning and checks it: exactly `editseq: ${expected}` (the file named by its
 * workspace path, not its URI), with an "Ask Again" button. Returns its message.
 */
async function refusalMessage(page, expected, timeout = 30000) {
    const refusal = refusals(page).filter({ hasText: expected }).first();
    await refusal.waitFor({ timeout }).catch(async () => {
        const shown = await Promise.all((await refusals(page).all()).map(toastMessage));
        throw new Error(`no refusal "editseq: ${expected}" (warnings shown: ${JSON.stringify(shown)})`);
    });
    const message = await toastMessage(refusal);
    log(`refused: ${JSON.stringify(message)}`);
    if (message !== `editseq: ${expected}`) {
        throw new Error(`the refusal reads ${JSON.stringify(message)}, not ${JSON.stringify(`editseq: ${expected}`)}`);
    }
    if (!(await refusal.getByRole('button', { name: 'Ask Again', exact: true }).count())) {
        throw new Error('the refusal has no "Ask Again" button');
    }
    await sleep(500); // the toast fades in
    return message;
}

const firstDef = (text) => /^\s*def (\w+)/m.exec(text)?.[1] ?? '';

/** Status bar texts that show work on the function (the server's $/progress, the extension's own). */
async function progressTexts(page) {
    return (await statusTexts(page)).map((t) => t.replace(/\s+/g, ' ').trim())
        .filter((t) => /implementing|Implementing|docstring/.test(t));
}

/** The refusal warnings on screen ("...; ask again"). */
const refusals = (page) => toasts(page, 'ask again');

/**
 * Runs "editseq: Implement Function" at `line` of `file` (or, with `askAgain`, clicks "Ask Again"
 * on the refusal on screen) and waits for the server's question, collecting the progress shown
 * meanwhile. With `typeFirst`, types that line at the top of the file while the question is open,
 * answers "Apply" and expects the refusal; else answers "Apply" and expects the stub replaced.
 * Returns what was asked, shown and saved.
 */
export async function implementFunction(page, { workspace, file, line, out, shotPrefix, typeFirst, askAgain, timeout = TIMEOUT }) {
    const filePath = path.join(workspace, file);
    const before = fs.readFileSync(filePath, 'utf8');
    const name = firstDef(before.split('\n').slice(0, line).reverse().join('\n'));
    if (askAgain) {
        await refusals(page).first().getByRole('button', { name: 'Ask Again', exact: true }).click();
        log(`implement: clicked "Ask Again" on the refusal (${name})`);
    } else {
        await openFile(page, file, name);
        await goToLine(page, line);
        await runCommand(page, 'editseq: Implement Function');
        log(`implement: ran "editseq: Implement Function" on ${file}:${line} (${name})`);
    }
    const asked = Date.now();

    const progress = new Set();
    const question = toasts(page, 'Apply it?').first();
    const failed = toasts(page, /editseq: (no implementation|implementing .* cancelled|.* failed)/).first();
    let progressShot = false;
    await waitFor(`the question "Implement ${name}: ... Apply it?"`, async () => {
        const shown = await progressTexts(page);
        shown.forEach((t) => progress.add(t));
        if (!progressShot && shown.some((t) => /implementing /.test(t))) {
            progressShot = true;
            await shot(page, out, `${shotPrefix}-progress.png`);
        }
        if (await failed.count()) {
            throw new Error(`implement: ${await toastMessage(failed)}`);
        }
        return (await question.count()) > 0;
    }, timeout, 200);
    const questionText = await toastMessage(question);
    const waited = (Date.now() - asked) / 1000;
    log(`implement: asked after ${waited.toFixed(1)} s: ${JSON.stringify(questionText)}; progress seen: ${JSON.stringify([...progress])}`);
    if (!new RegExp(`^Implement ${name}: .+ \\(editseq\\)\\. Apply it\\?$`).test(questionText)) {
        throw new Error(`an unexpected question: ${JSON.stringify(questionText)}`);
    }
    if (![...progress].some((t) => t.includes(`implementing ${name}`))) {
        throw new Error(`no "implementing ${name}" progress in the status bar (saw ${JSON.stringify([...progress])})`);
    }
    await sleep(300);
    await shot(page, out, `${shotPrefix}-ask.png`);

    if (typeFirst) {
        // The editor still has the focus (the question is a notification): the user types.
        await page.keyboard.press('Control+Home');
        await page.keyboard.type(typeFirst, { delay: 20 });
        await page.keyboard.press('Enter');
        log(`implement: typed ${JSON.stringify(typeFirst)} at the top while the question was open`);
    }
    await question.getByRole('button', { name: 'Apply', exact: true }).click();
    log('implement: answered "Apply"');

    if (typeFirst) {
        const message = await refusalMessage(page, `${file} changed while ${name} was being implemented; ask again`);
        await shot(page, out, `${shotPrefix}-refused.png`);
        const saved = await saveUntilChanged(page, filePath, before);
        if (saved !== `${typeFirst}\n${before}`) {
            throw new Error(`the file is not the typed line and the file before it:\n${saved}`);
        }
        return { function: name, asked: questionText, progress: [...progress], message, before, saved, seconds: waited };
    }
    const saved = await saveUntilChanged(page, filePath, before, 30000);
    await sleep(300);
    await shot(page, out, `${shotPrefix}.png`);
    log(`implement: applied and saved:\n${saved}`);
    return { function: name, asked: questionText, progress: [...progress], before, saved, seconds: waited };
}

/**
 * Runs "editseq: Insert Docstring" at `line` of `file` (a function without a docstring) and, as soon
 * as the extension shows it working, types `typed` at the end of the file: the slow (scripted)
 * model is still writing, so the server refuses the docstring it computed on the older version.
 */
export async function docstringRefused(page, { workspace, file, line, out, typed }) {
    const filePath = path.join(workspace, file);
    const before = fs.readFileSync(filePath, 'utf8');
    const name = firstDef(before.split('\n').slice(0, line).reverse().join('\n'));
    await openFile(page, file, name);
    await goToLine(page, line);
    await runCommand(page, 'editseq: Insert Docstring');
    const working = await waitFor('"Writing a docstring" in the status bar', async () =>
        (await progressTexts(page)).find((t) => /docstring/.test(t)), 20000, 100);
    await page.keyboard.press('Control+End');
    await page.keyboard.type(typed, { delay: 20 });
    log(`docstring: typed ${JSON.stringify(typed)} at the end while the status bar showed ${JSON.stringify(working)}`);
    const message = await refusalMessage(page, `${file} changed while the docstring of ${name} was written; ask again`, 60000);
    await shot(page, out, 'vscode-docstring-refused.png');
    const saved = await saveUntilChanged(page, filePath, before);
    if (saved !== before + typed) {
        throw new Error(`the file is not the file before and the typed text:\n${saved}`);
    }
    return { function: name, working, message, before, saved };
}
