/**
 * Coalesces repeated requests to run one async task (the server restart). Pure: no vscode import.
 *
 * While a run is in progress, any number of further requests collapse into ONE follow-up run that
 * starts when the current one ends; every caller's promise resolves when a run that started after
 * its request has finished. A failed run rejects the promises of the callers waiting on it only.
 */
export class Coalescer {
    private running: Promise<void> | undefined;
    private queued: Promise<void> | undefined;

    constructor(private readonly task: () => Promise<void>) {}

    get busy(): boolean {
        return this.running !== undefined;
    }

    run(): Promise<void> {
        if (this.queued) {
            return this.queued;
        }
        if (this.running) {
            const previous = this.running;
            this.queued = previous
                .catch(() => undefined)
                .then(() => {
                    this.queued = undefined;
                    return this.start();
                });
            return this.queued;
        }
        return this.start();
    }

    private start(): Promise<void> {
        const current = (async () => this.task())().finally(() => {
            if (this.running === current) {
                this.running = undefined;
            }
        });
        this.running = current;
        return current;
    }
}
