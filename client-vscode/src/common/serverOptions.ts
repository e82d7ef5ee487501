/**
 * Which settings are server options, and their values as the server expects them. Pure: no
 * vscode import. package.json's contributes.configuration is generated from the server's
 * option_docs() (scripts/gen-settings.py); its section with id `editseq.server` lists exactly
 * the server's options, so the extension never hard-codes them.
 */
import { CONFIG_SECTION, SERVER_SECTION_ID } from './constants';

interface ConfigurationSection {
    id?: string;
    properties?: Record<string, unknown>;
}

/** Option names (camelCase, without the `editseq.` prefix) of the server section. */
export function serverOptionNames(packageJSON: unknown): string[] {
    const contributes = (packageJSON as { contributes?: { configuration?: unknown } } | undefined)?.contributes;
    const configuration = contributes?.configuration;
    const sections: ConfigurationSection[] = Array.isArray(configuration)
        ? configuration
        : configuration
          ? [configuration as ConfigurationSection]
          : [];
    const prefix = `${CONFIG_SECTION}.`;
    return sections
        .filter((section) => section.id === SERVER_SECTION_ID)
        .flatMap((section) => Object.keys(section.properties ?? {}))
        .filter((key) => key.startsWith(prefix))
        .map((key) => key.slice(prefix.length));
}

/** The server options among `values` (e.g. the whole `editseq` configuration section). */
export function pickServerOptions(
    values: Record<string, unknown> | undefined,
    names: readonly string[],
): Record<string, unknown> {
    const picked: Record<string, unknown> = {};
    if (!values) {
        return picked;
    }
    for (const name of names) {
        if (values[name] !== undefined) {
            picked[name] = values[name];
        }
    }
    return picked;
}

/** True if a configuration change event touching `affects(section)` concerns a server option. */
export function affectsServerOptions(affects: (section: string) => boolean, names: readonly string[]): boolean {
    return names.some((name) => affects(`${CONFIG_SECTION}.${name}`));
}
