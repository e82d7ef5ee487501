-- Headless Neovim end-to-end test of client-nvim/lua/editseq: the real editseq server and model.
--
--   EDITSEQ_PYTHON=/path/to/python EDITSEQ_REPO=/path/to/repo \
--     nvim --headless --clean -c 'luafile tests/nvim/test_inline.lua' </dev/null
--
-- Not `nvim -l`: the test types in insert mode, which needs the main loop to read typeahead; the
-- steps run in a coroutine that yields to the main loop while waiting.
-- Opens the completion fixture, types at a position where the model usually offers an insertion,
-- waits for the ghost text, accepts it with <Tab> (real keys, in insert mode), checks that the
-- buffer holds exactly the item's text, then asks for code actions and applies the offered one.
-- Prints one line `EDITSEQ_RESULT {json}` and exits 0 on success, 1 on failure (reasons on stderr).
-- tests/e2e/test_neovim.py runs it under pytest.

local repo = assert(os.getenv('EDITSEQ_REPO'), 'set EDITSEQ_REPO')
local python = assert(os.getenv('EDITSEQ_PYTHON'), 'set EDITSEQ_PYTHON')
local timeout_ms = tonumber(os.getenv('EDITSEQ_TIMEOUT_MS') or '') or 120000
local attempts = tonumber(os.getenv('EDITSEQ_ATTEMPTS') or '') or 3
-- EDITSEQ_SERVER_SCRIPT: run that Python file as the server instead of `-m editseq.cli serve`
-- (tests/nvim/scripted_server.py: the real server with a scripted model, which always offers).
local server_script = os.getenv('EDITSEQ_SERVER_SCRIPT')
-- EDITSEQ_EXPECT_ITEMS=1: fail unless a suggestion was shown and accepted.
local expect_items = os.getenv('EDITSEQ_EXPECT_ITEMS') == '1'
vim.opt.rtp:prepend(repo .. '/client-nvim')

local api = vim.api
local result = { items = 0, accepted = {}, code_actions = 0, code_action_applied = false, suggest_logs = {} }
local failures = {}

local function fail(message)
  failures[#failures + 1] = message
  io.stderr:write('FAIL: ' .. message .. '\n')
end

local function finish()
  for _, client in ipairs(vim.lsp.get_clients()) do
    client:stop()
  end
  vim.wait(5000, function()
    return #vim.lsp.get_clients() == 0
  end, 50)
  result.failures = failures
  local line = 'EDITSEQ_RESULT ' .. vim.json.encode(result) .. '\n'
  io.stdout:write(line)
  io.stdout:flush()
  local out = os.getenv('EDITSEQ_RESULT_FILE')
  if out then
    local f = assert(io.open(out, 'w'))
    f:write(line)
    f:close()
  end
  os.exit(#failures == 0 and 0 or 1)
end

local function buffer_text(bufnr)
  return table.concat(api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n')
end

-- Independent of the plugin: the text after replacing an LSP range (ASCII fixture: characters = bytes).
local function apply_lsp_edit(text, range, new_text)
  local lines = vim.split(text, '\n', { plain = true })
  local function offset(pos)
    local o = 0
    for i = 1, pos.line do
      o = o + #lines[i] + 1
    end
    return o + pos.character
  end
  return text:sub(1, offset(range.start)) .. new_text .. text:sub(offset(range['end']) + 1)
end

-- Yield to the main loop (typeahead, timers, LSP messages) for `ms`; only inside main().
local function sleep(ms)
  local co = coroutine.running()
  vim.defer_fn(function()
    coroutine.resume(co)
  end, ms)
  coroutine.yield()
end

local client -- the editseq client, once started

local function wait_until(condition, ms)
  local waited = 0
  while not condition() do
    if client and client:is_stopped() then
      fail('the editseq server exited (its stderr is in ' .. vim.lsp.get_log_path() .. ')')
      finish()
    end
    if waited >= ms then
      return false
    end
    sleep(100)
    waited = waited + 100
  end
  return true
end

local function main()
  local fixture = repo .. '/tests/data/completion/shapes.py'
  local source = table.concat(vim.fn.readfile(fixture), '\n') .. '\n'

  -- The server, as a user's 0.10/0.11 configuration would start it (docs/editors.md).
  local logs = {}
  vim.cmd.edit(vim.fn.fnameescape(vim.fn.tempname() .. '_shapes.py'))
  local bufnr = api.nvim_get_current_buf()
  api.nvim_buf_set_lines(bufnr, 0, -1, false, vim.split(source, '\n', { plain = true }))
  vim.bo[bufnr].filetype = 'python'
  vim.bo[bufnr].expandtab = true
  vim.bo[bufnr].shiftwidth = 4
  vim.bo[bufnr].autoindent = false
  local client_id = vim.lsp.start({
    name = 'editseq',
    cmd = server_script and { python, server_script } or { python, '-m', 'editseq.cli', 'serve' },
    root_dir = vim.fn.fnamemodify(fixture, ':h'),
    -- Short generations: the model runs on a couple of CPU cores in CI.
    init_options = { maxTokens = 24, samples = 2, temperature = 0.2 },
    handlers = {
      ['window/logMessage'] = function(_, params)
        logs[#logs + 1] = params.message
      end,
      ['window/showMessage'] = function(_, params)
        logs[#logs + 1] = params.message
        io.stderr:write('server says: ' .. params.message .. '\n')
      end,
    },
  }, { bufnr = bufnr })
  if not client_id then
    fail('vim.lsp.start did not start the server')
    finish()
  end
  client = vim.lsp.get_client_by_id(client_id)
  if not vim.wait(60000, function() return client.initialized end, 50) then
    fail('the server did not initialize within 60 s')
    finish()
  end
  if not client.server_capabilities.inlineCompletionProvider then
    fail('the server does not announce inlineCompletionProvider')
  end
  -- Wait for the warm-up (model loaded) so the timed part measures suggestions only.
  vim.wait(timeout_ms, function()
    for _, m in ipairs(logs) do
      if m:match('^editseq: model .* loaded in') then
        return true
      end
    end
  end, 100)

  local editseq = require('editseq')
  editseq.setup({ debounce_ms = 150 })
  if vim.fn.maparg('<Tab>', 'i') == '' then
    fail('setup() did not map <Tab> in insert mode')
  end

  -- Line 13 (1-based) is the empty body of rectangle_perimeter, after its docstring: type its
  -- indentation there in insert mode; the debounced request shows ghost text; <Tab> accepts it.
  local row, typed = 13, '    '
  local accepted_item, before_accept
  local function keys(k)
    api.nvim_feedkeys(api.nvim_replace_termcodes(k, true, false, true), 't', false)
  end
  local function suggest_count()
    local n = 0
    for _, m in ipairs(logs) do
      if m:match('^editseq suggest ') then
        n = n + 1
      end
    end
    return n
  end
  for attempt = 1, attempts do
    api.nvim_buf_set_lines(bufnr, row - 1, row, false, { '' })
    api.nvim_win_set_cursor(0, { row, 0 })
    local answered = suggest_count()
    keys('A' .. typed) -- insert mode; TextChangedI starts the debounced request
    wait_until(function()
      return editseq.is_visible(bufnr) or suggest_count() > answered
    end, timeout_ms)
    wait_until(function()
      return editseq.is_visible(bufnr)
    end, 1000)
    if editseq.is_visible(bufnr) then
      accepted_item = vim.deepcopy(editseq.current(bufnr))
      before_accept = buffer_text(bufnr)
      keys('<Tab>')
      wait_until(function()
        return buffer_text(bufnr) ~= before_accept
      end, 5000)
      keys('<Esc>')
      sleep(100)
      result.attempts = attempt
      break
    end
    keys('<Esc>')
    sleep(100)
    io.stderr:write(('attempt %d: no ghost text (%s)\n'):format(attempt, logs[#logs] or 'no log'))
  end

  for _, m in ipairs(logs) do
    if m:match('^editseq suggest ') then
      result.suggest_logs[#result.suggest_logs + 1] = m
    end
  end
  if #result.suggest_logs == 0 then
    fail('the server logged no "editseq suggest" line: no suggestion was computed')
  end

  if expect_items and not accepted_item then
    fail('no suggestion was shown and accepted (EDITSEQ_EXPECT_ITEMS=1); last log: ' .. (logs[#logs] or ''))
  end
  if accepted_item then
    result.items = 1
    result.accepted[1] = accepted_item.insertText
    local expected
    if accepted_item.range then
      expected = apply_lsp_edit(before_accept, accepted_item.range, accepted_item.insertText)
    else
      local line = api.nvim_buf_get_lines(bufnr, row - 1, row, false)[1]
      expected = before_accept:gsub(vim.pesc(line), line .. accepted_item.insertText, 1)
    end
    local after = buffer_text(bufnr)
    if after ~= expected then
      fail(('<Tab> did not insert the item exactly:\nexpected:\n%s\ngot:\n%s'):format(expected, after))
    end
    if editseq.is_visible(bufnr) then
      fail('the ghost text is still shown after accepting')
    end
    result.after_accept = after
  else
    result.after_accept = buffer_text(bufnr)
  end

  -- Code actions: a fresh suggestion on the current text, then the actions for that version.
  local position = vim.lsp.util.make_position_params(0, client.offset_encoding)
  position.context = { triggerKind = 1 }
  local response = client:request_sync('textDocument/inlineCompletion', position, timeout_ms, bufnr)
  if not response or response.err then
    fail('inline completion request failed: ' .. vim.inspect(response))
  end
  local cursor = position.position
  local actions_response = client:request_sync('textDocument/codeAction', {
    textDocument = position.textDocument,
    range = { start = cursor, ['end'] = cursor },
    context = { diagnostics = {}, triggerKind = 1 },
  }, timeout_ms, bufnr)
  if not actions_response or actions_response.err then
    fail('code action request failed: ' .. vim.inspect(actions_response))
  else
    local actions = actions_response.result or {}
    result.code_actions = #actions
    -- editseq's actions: "Apply suggested edit (editseq)" carries an edit; the function actions
    -- (explain, repair, docstring) carry a server command.
    local with_edit
    for _, action in ipairs(actions) do
      result.code_action_titles = result.code_action_titles or {}
      table.insert(result.code_action_titles, action.title)
      if not action.title:match('%(editseq%)$') or not (action.edit or action.command) then
        fail('unexpected code action: ' .. vim.inspect(action))
      end
      if action.edit and not with_edit then
        with_edit = action
      end
    end
    local action = with_edit
    if action then
      local before = buffer_text(bufnr)
      local uri = vim.uri_from_bufnr(bufnr)
      local edits = {}
      for _, change in ipairs(action.edit.documentChanges or {}) do
        if change.textDocument.uri == uri then edits = change.edits end
      end
      table.sort(edits, function(a, b)
        if a.range.start.line ~= b.range.start.line then
          return a.range.start.line > b.range.start.line
        end
        return a.range.start.character > b.range.start.character
      end)
      local expected = before
      for _, edit in ipairs(edits) do
        expected = apply_lsp_edit(expected, edit.range, edit.newText)
      end
      vim.lsp.util.apply_workspace_edit(action.edit, client.offset_encoding)
      if buffer_text(bufnr) ~= expected then
        fail('the code action did not apply its edit exactly')
      end
      result.code_action_applied = true
    end
  end
  result.final_text = buffer_text(bufnr)
end

local co = coroutine.create(function()
  local ok, err = xpcall(main, debug.traceback)
  if not ok then
    fail(tostring(err))
  end
  finish()
end)
coroutine.resume(co)
