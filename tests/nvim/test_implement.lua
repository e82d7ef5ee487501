-- Headless Neovim end-to-end test of "Implement this function (editseq)": the code action on a
-- stub, the server's question answered "Apply", and the edit applied by Neovim itself.
--
--   EDITSEQ_PYTHON=/path/to/python EDITSEQ_REPO=/path/to/repo \
--     nvim --headless --clean -c 'luafile tests/nvim/test_implement.lua' </dev/null
--
-- Opens tests/data/functions/implement.py (a stub with two doctest examples), asks for the code
-- actions on its body, checks that the implement action is offered, runs its command, answers the
-- server's window/showMessageRequest with "Apply", lets Neovim's own workspace/applyEdit handler
-- change the buffer, and checks that the buffer holds exactly the text of the edit the server
-- sent (computed here independently). EDITSEQ_EXPECT_APPLIED=1: fail unless an edit was applied
-- (the scripted model always writes one that passes). Prints `EDITSEQ_RESULT {json}`, exits 0 on
-- success. tests/e2e/test_neovim.py runs it under pytest.

local repo = assert(os.getenv('EDITSEQ_REPO'), 'set EDITSEQ_REPO')
local python = assert(os.getenv('EDITSEQ_PYTHON'), 'set EDITSEQ_PYTHON')
local timeout_ms = tonumber(os.getenv('EDITSEQ_TIMEOUT_MS') or '') or 180000
local server_script = os.getenv('EDITSEQ_SERVER_SCRIPT')
local expect_applied = os.getenv('EDITSEQ_EXPECT_APPLIED') == '1'
vim.opt.rtp:prepend(repo .. '/client-nvim')

local api = vim.api
local result = { actions = {}, asked = {}, applied = false, progress = {} }
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

-- Independent of Neovim's handler: the text after replacing an LSP range (ASCII fixture).
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

local function sleep(ms)
  local co = coroutine.running()
  vim.defer_fn(function()
    coroutine.resume(co)
  end, ms)
  coroutine.yield()
end

local client

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
  local fixture = repo .. '/tests/data/functions/implement.py'
  local source = table.concat(vim.fn.readfile(fixture), '\n')
  vim.cmd.edit(vim.fn.fnameescape(vim.fn.tempname() .. '_implement.py'))
  local bufnr = api.nvim_get_current_buf()
  api.nvim_buf_set_lines(bufnr, 0, -1, false, vim.split(source, '\n', { plain = true }))
  vim.bo[bufnr].filetype = 'python'

  local before_edit, expected
  local default_apply = vim.lsp.handlers['workspace/applyEdit']
  local client_id = vim.lsp.start({
    name = 'editseq',
    cmd = server_script and { python, server_script } or { python, '-m', 'editseq.cli', 'serve' },
    root_dir = vim.fn.fnamemodify(fixture, ':h'),
    -- A few candidates: the model runs on a couple of CPU cores in CI.
    init_options = { implementCandidates = 3 },
    handlers = {
      ['window/showMessageRequest'] = function(_, params)
        result.asked[#result.asked + 1] = params.message
        for _, action in ipairs(params.actions or {}) do
          if action.title == 'Apply' then
            return action
          end
        end
        return vim.NIL
      end,
      ['workspace/applyEdit'] = function(err, params, ctx, config)
        before_edit = buffer_text(bufnr)
        local edits = {}
        for _, change in ipairs(params.edit.documentChanges or {}) do
          if change.textDocument.uri == vim.uri_from_bufnr(bufnr) then edits = change.edits end
        end
        expected = before_edit
        table.sort(edits, function(a, b)
          return a.range.start.line > b.range.start.line
        end)
        for _, edit in ipairs(edits) do
          expected = apply_lsp_edit(expected, edit.range, edit.newText)
        end
        result.edit_label = params.label
        return default_apply(err, params, ctx, config) -- Neovim applies it to the buffer
      end,
      ['$/progress'] = function(_, params)
        local value = params.value or {}
        result.progress[#result.progress + 1] = value.kind .. ':' .. (value.title or value.message or '')
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
  require('editseq').setup({ auto_trigger = false })

  -- The cursor on the stub's `pass` (line 12, 1-based): the code actions there.
  local position = { line = 11, character = 4 }
  local actions_response = client:request_sync('textDocument/codeAction', {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    range = { start = position, ['end'] = position },
    context = { diagnostics = {}, triggerKind = 1 },
  }, timeout_ms, bufnr)
  if not actions_response or actions_response.err then
    fail('code action request failed: ' .. vim.inspect(actions_response))
    finish()
  end
  local implement
  for _, action in ipairs(actions_response.result or {}) do
    result.actions[#result.actions + 1] = action.title
    if action.title == 'Implement this function (editseq)' then
      implement = action
    end
  end
  if not implement or not implement.command or implement.command.command ~= 'editseq.implementFunction' then
    fail('no "Implement this function (editseq)" action with its command: ' .. vim.inspect(result.actions))
    finish()
  end

  local reply
  client:exec_cmd(implement.command, { bufnr = bufnr }, function(err, res)
    reply = err and { error = tostring(err.message or err) } or res
  end)
  if not wait_until(function() return reply ~= nil end, timeout_ms) then
    fail('no reply to editseq.implementFunction within ' .. timeout_ms .. ' ms')
    finish()
  end
  result.reply = reply
  result.final_text = buffer_text(bufnr)
  if reply.error then
    fail('editseq.implementFunction failed: ' .. reply.error)
  elseif reply.applied then
    result.applied = true
    -- Neovim keeps the final newline as the last line's end of line: compare without it
    if (result.final_text:gsub('\n+$', '')) ~= (expected:gsub('\n+$', '')) then
      fail(('the buffer does not hold the edit:\nexpected:\n%s\ngot:\n%s'):format(expected, result.final_text))
    end
    if result.final_text:find('\n    pass', 1, true) then
      fail('the stub is still there after the edit')
    end
    if #result.asked ~= 1 or not result.asked[1]:match('^Implement add: .* %(editseq%)%. Apply it%?$') then
      fail('the server did not ask before applying: ' .. vim.inspect(result.asked))
    end
  else
    if not reply.message or reply.message == '' then
      fail('a reply without a message: ' .. vim.inspect(reply))
    end
    if result.final_text ~= source then
      fail('the buffer changed although nothing was applied')
    end
  end
  if expect_applied and not result.applied then
    fail('nothing was applied (EDITSEQ_EXPECT_APPLIED=1): ' .. vim.inspect(reply))
  end
end

local co = coroutine.create(function()
  local ok, err = xpcall(main, debug.traceback)
  if not ok then
    fail(tostring(err))
  end
  finish()
end)
coroutine.resume(co)
