/** The status bar item: server state, model, and the last suggestion's latency. */
import * as vscode from 'vscode';
import { Commands } from './constants';
import { describe, type ServerState } from './state';

export class StatusBar implements vscode.Disposable {
    private readonly item: vscode.StatusBarItem;
    private state: ServerState = { phase: 'stopped' };

    constructor() {
        this.item = vscode.window.createStatusBarItem('editseq.status', vscode.StatusBarAlignment.Right, 100);
        this.item.name = 'editseq';
        this.item.command = Commands.showLog;
        this.render();
        this.item.show();
    }

    get current(): Readonly<ServerState> {
        return this.state;
    }

    /** Replace the state (a new phase of the server's life). */
    set(state: ServerState): void {
        this.state = { ...state };
        this.render();
    }

    /** Merge fields into the current state. */
    update(changes: Partial<ServerState>): void {
        this.state = { ...this.state, ...changes };
        this.render();
    }

    dispose(): void {
        this.item.dispose();
    }

    private render(): void {
        const view = describe(this.state);
        this.item.text = view.text;
        this.item.tooltip = view.tooltip;
        this.item.backgroundColor = view.error ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    }
}
