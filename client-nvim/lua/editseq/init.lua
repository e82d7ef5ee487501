--- editseq ghost text for Neovim 0.10 and 0.11 (0.12+ can use its built-in inline completion).
---
--- Requests `textDocument/inlineCompletion` from the editseq language server on a debounce while
--- you type, draws the first item as ghost text (extmarks: `virt_text` inline at the cursor plus
--- `virt_lines` for further lines), and accepts it with <Tab> (configurable). Suggested edits away
--- from the cursor come as code actions ("Apply suggested edit (editseq)"): `vim.lsp.buf.code_action()`.
---
--- Setup (after the server is configured with vim.lsp.config / vim.lsp.start, see docs/editors.md):
---   require('editseq').setup()             -- defaults below
---   require('editseq').setup({ accept_key = '<C-l>', debounce_ms = 400 })
---
--- Lua API: setup(opts), trigger(bufnr), accept(bufnr) -> boolean, dismiss(bufnr),
--- is_visible(bufnr) -> boolean, current(bufnr) -> the shown LSP InlineCompletionItem or nil,
--- status(bufnr) -> the server's last `editseq/status` or nil, statusline(bufnr) -> string.
---
--- setup() also (on every Neovim version) records the server's `editseq/status` notifications
--- (docs/protocol.md; a `User EditseqStatus` autocmd fires on each) and shows the `message` of an
--- editseq command (explain / repair / implement / insert docstring) that answers `ok = false` as a
--- warning.
local M = {}

local api = vim.api
local ns = api.nvim_create_namespace('editseq.ghost')

---@class editseq.Config
M.config = {
  --- Delay after the last keystroke before a suggestion is requested.
  debounce_ms = 250,
  --- Request suggestions while typing in insert mode (false: only through trigger()).
  auto_trigger = true,
  --- Insert-mode key that accepts the shown suggestion (other times it types itself); false: none.
  accept_key = '<Tab>',
  --- Insert-mode key that dismisses the shown suggestion; false: none.
  dismiss_key = '<C-]>',
  --- Highlight group of the ghost text.
  hl_group = 'Comment',
  --- On Neovim 0.12+, use vim.lsp.inline_completion (built in) instead of this module's UI.
  use_builtin = true,
  --- Only buffers with these filetypes get suggestions.
  filetypes = { 'python' },
}

---@class editseq.BufState
---@field timer? uv.uv_timer_t
---@field client_id? integer
---@field request_id? integer
---@field tick? integer      changedtick when the request was sent
---@field cursor? integer[]  {row 1-based, col 0-based byte} when the request was sent
---@field item? table        the shown lsp.InlineCompletionItem
---@field range? integer[]   its range {srow, scol, erow, ecol}, 0-based rows, byte columns
---@field extmark? integer
---@field shown_at? integer[] cursor when shown

---@type table<integer, editseq.BufState>
local states = {}

---@class editseq.Suggestion
---@field uri? string
---@field line? integer       0-based
---@field offered? boolean
---@field skip? string        why nothing was offered (nil when something was)
---@field reason? string      the same in words
---@field latencyMs? number

---@class editseq.Status     what the server last said in `editseq/status` (absent: unknown)
---@field state? 'loading'|'ready'|'error'
---@field model? string
---@field loadSeconds? number
---@field message? string
---@field suggestion? editseq.Suggestion

---@type table<integer, editseq.Status> by client id
local statuses = {}

--- The editseq commands whose replies are `{ ok, message, ... }` (docs/protocol.md).
local COMMANDS = {
  ['editseq.explainFunction'] = true,
  ['editseq.insertDocstring'] = true,
  ['editseq.repairFunction'] = true,
  ['editseq.implementFunction'] = true,
}

local function has(version)
  return vim.fn.has(version) == 1
end

local function resolve(bufnr)
  return (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
end

local function state(bufnr)
  local s = states[bufnr]
  if not s then
    s = {}
    states[bufnr] = s
  end
  return s
end

-- 0.11 made the client methods colon calls; 0.10 only has the dot form.
local function client_request(client, method, params, handler, bufnr)
  if has('nvim-0.11') then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function client_cancel(client, id)
  if has('nvim-0.11') then
    client:cancel_request(id)
  else
    client.cancel_request(id)
  end
end

--- The attached client that offers inline completions (the editseq server), if any.
function M.client(bufnr)
  bufnr = resolve(bufnr)
  for _, client in ipairs(vim.lsp.get_clients({ bufnr = bufnr })) do
    if client.server_capabilities and client.server_capabilities.inlineCompletionProvider then
      return client
    end
  end
end

--- Byte column of an LSP position (UTF-16/32/8 character offsets) in the buffer.
local function byte_col(bufnr, position, encoding)
  local ok, col = pcall(vim.lsp.util._get_line_byte_from_position, bufnr, position, encoding)
  return ok and col or position.character
end

function M.dismiss(bufnr)
  bufnr = resolve(bufnr)
  local s = states[bufnr]
  if not s then
    return
  end
  if s.extmark then
    pcall(api.nvim_buf_del_extmark, bufnr, ns, s.extmark)
  end
  s.extmark, s.item, s.range, s.shown_at = nil, nil, nil, nil
end

local function cancel(bufnr)
  local s = states[bufnr]
  if not s then
    return
  end
  if s.timer then
    s.timer:stop()
  end
  if s.request_id and s.client_id then
    local client = vim.lsp.get_client_by_id(s.client_id)
    if client then
      pcall(client_cancel, client, s.request_id)
    end
  end
  s.request_id = nil
end

function M.is_visible(bufnr)
  local s = states[resolve(bufnr)]
  return s ~= nil and s.extmark ~= nil
end

--- The LSP InlineCompletionItem shown as ghost text, or nil.
function M.current(bufnr)
  local s = states[resolve(bufnr)]
  return s and s.item
end

--- Length of the common prefix of two strings.
local function common_prefix(a, b)
  local n = math.min(#a, #b)
  local i = 0
  while i < n and a:byte(i + 1) == b:byte(i + 1) do
    i = i + 1
  end
  return i
end

local function show(bufnr, client, item)
  M.dismiss(bufnr)
  local s = state(bufnr)
  local cursor = api.nvim_win_get_cursor(0)
  local range
  if item.range then
    range = {
      item.range.start.line,
      byte_col(bufnr, item.range.start, client.offset_encoding),
      item.range['end'].line,
      byte_col(bufnr, item.range['end'], client.offset_encoding),
    }
  else
    range = { cursor[1] - 1, cursor[2], cursor[1] - 1, cursor[2] }
  end
  local text = type(item.insertText) == 'table' and item.insertText.value or item.insertText
  if type(text) ~= 'string' or text == '' then
    return
  end
  local lines = vim.split(text, '\n', { plain = true })
  -- What is already typed between the range start and the cursor is not drawn again.
  local line = api.nvim_buf_get_lines(bufnr, range[1], range[1] + 1, false)[1] or ''
  local typed = line:sub(range[2] + 1, math.max(range[2], cursor[2]))
  local skip = common_prefix(typed, lines[1])
  local first = lines[1]:sub(skip + 1)
  local virt_lines = {}
  for i = 2, #lines do
    virt_lines[#virt_lines + 1] = { { lines[i], M.config.hl_group } }
  end
  local opts = { virt_text = { { first, M.config.hl_group } }, virt_text_pos = 'inline', hl_mode = 'combine' }
  if #virt_lines > 0 then
    opts.virt_lines = virt_lines
  end
  s.extmark = api.nvim_buf_set_extmark(bufnr, ns, range[1], math.min(range[2] + skip, #line), opts)
  s.item, s.range, s.client_id, s.shown_at = item, range, client.id, cursor
end

--- Request a suggestion at the cursor now; `invoked` marks a user request (triggerKind 1).
function M.trigger(bufnr, invoked)
  bufnr = resolve(bufnr)
  local client = M.client(bufnr)
  if not client then
    return false
  end
  cancel(bufnr)
  M.dismiss(bufnr)
  local s = state(bufnr)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = invoked and 1 or 2 }
  s.tick = api.nvim_buf_get_changedtick(bufnr)
  s.cursor = api.nvim_win_get_cursor(0)
  s.client_id = client.id
  local tick, cursor = s.tick, s.cursor
  local ok, id = client_request(client, 'textDocument/inlineCompletion', params, function(err, result)
    if s.tick ~= tick then
      return -- a newer request replaced this one
    end
    s.request_id = nil
    if err or not result or not api.nvim_buf_is_valid(bufnr) then
      return
    end
    if api.nvim_buf_get_changedtick(bufnr) ~= tick or api.nvim_get_current_buf() ~= bufnr then
      return -- the buffer changed while the model was thinking
    end
    local now = api.nvim_win_get_cursor(0)
    if now[1] ~= cursor[1] or now[2] ~= cursor[2] then
      return
    end
    if not invoked and api.nvim_get_mode().mode:sub(1, 1) ~= 'i' then
      return
    end
    local items = result.items or result
    if type(items) == 'table' and items[1] then
      show(bufnr, client, items[1])
    end
  end, bufnr)
  if ok then
    s.request_id = id
  end
  return ok
end

--- Accept the shown suggestion: insert it exactly, move the cursor after it, run its command.
--- Returns false if none was shown.
function M.accept(bufnr)
  bufnr = resolve(bufnr)
  local s = states[bufnr]
  if not (s and s.item and s.range) then
    return false
  end
  local item, range, client_id = s.item, s.range, s.client_id
  M.dismiss(bufnr)
  cancel(bufnr)
  local text = type(item.insertText) == 'table' and item.insertText.value or item.insertText
  local lines = vim.split(text, '\n', { plain = true })
  api.nvim_buf_set_text(bufnr, range[1], range[2], range[3], range[4], lines)
  local row = range[1] + #lines
  local col = (#lines == 1 and range[2] or 0) + #lines[#lines]
  local win = vim.fn.bufwinid(bufnr)
  if win ~= -1 then
    api.nvim_win_set_cursor(win, { row, col })
  end
  if item.command then
    local client = vim.lsp.get_client_by_id(client_id)
    if client and has('nvim-0.11') then
      client:exec_cmd(item.command, { bufnr = bufnr })
    elseif client then
      client.request('workspace/executeCommand', item.command, nil, bufnr)
    end
  end
  return true
end

local function schedule(bufnr)
  if not M.config.auto_trigger or not M.client(bufnr) then
    return
  end
  local s = state(bufnr)
  if not s.timer then
    s.timer = vim.uv.new_timer()
  end
  s.timer:stop()
  s.timer:start(M.config.debounce_ms, 0, vim.schedule_wrap(function()
    if api.nvim_buf_is_valid(bufnr) and api.nvim_get_current_buf() == bufnr
        and api.nvim_get_mode().mode:sub(1, 1) == 'i' then
      M.trigger(bufnr, false)
    end
  end))
end

--- `value` if it has Lua type `kind` (JSON null arrives as vim.NIL, which is not a string), else nil.
local function typed(value, kind)
  if type(value) == kind then
    return value
  end
end

local function nonnegative(value)
  if type(value) == 'number' and value >= 0 and value < math.huge then
    return value
  end
end

--- Merges an `editseq/status` notification into what is known: absent or mistyped fields keep
--- their value, a new `suggestion` replaces the previous one, a new `state` drops the previous
--- state's message, and `loading` the previous load time.
local function merge_status(old, params)
  if type(params) ~= 'table' then
    return old
  end
  local new = vim.deepcopy(old or {})
  local state = params.state
  if state == 'loading' or state == 'ready' or state == 'error' then
    if state ~= new.state then
      new.message = nil
    end
    if state == 'loading' then
      new.loadSeconds = nil
    end
    new.state = state
  end
  new.model = typed(params.model, 'string') or new.model
  new.loadSeconds = nonnegative(params.loadSeconds) or new.loadSeconds
  new.message = typed(params.message, 'string') or new.message
  local suggestion = params.suggestion
  if type(suggestion) == 'table' and not vim.islist(suggestion) then
    local line = nonnegative(suggestion.line)
    new.suggestion = {
      uri = typed(suggestion.uri, 'string'),
      line = line and math.floor(line) == line and line or nil,
      offered = typed(suggestion.offered, 'boolean'),
      skip = typed(suggestion.skip, 'string'),
      reason = typed(suggestion.reason, 'string'),
      latencyMs = nonnegative(suggestion.latencyMs),
    }
  end
  return new
end

--- Handler of the `editseq/status` notification (server -> client).
function M.on_status(_, params, ctx)
  if not (ctx and ctx.client_id) or type(params) ~= 'table' then
    return
  end
  local ok, status = pcall(merge_status, statuses[ctx.client_id], params)
  if not ok or status == nil then
    return
  end
  statuses[ctx.client_id] = status
  pcall(api.nvim_exec_autocmds, 'User', {
    pattern = 'EditseqStatus',
    modeline = false,
    data = { client_id = ctx.client_id, status = status },
  })
end

--- What the editseq server attached to the buffer last said in `editseq/status`
--- (see editseq.Status), or nil before its first notification.
function M.status(bufnr)
  bufnr = resolve(bufnr)
  for _, client in ipairs(vim.lsp.get_clients({ bufnr = bufnr })) do
    if statuses[client.id] then
      return statuses[client.id]
    end
  end
end

--- A short text for a statusline: 'editseq: loading', 'editseq: error', 'editseq 812 ms' (the
--- last suggestion's latency), 'editseq'; '' when no editseq server reported to this buffer.
function M.statusline(bufnr)
  local status = M.status(bufnr)
  if not status then
    return ''
  end
  if status.state == 'loading' or status.state == 'error' then
    return 'editseq: ' .. status.state
  end
  local latency = status.suggestion and status.suggestion.latencyMs
  return latency and string.format('editseq %d ms', math.floor(latency + 0.5)) or 'editseq'
end

--- Shows the `message` of an editseq command that answered `ok = false` (the other fields are
--- the command's own; edits arrive separately as workspace/applyEdit).
function M.on_command_result(err, result, ctx)
  local command = ctx and type(ctx.params) == 'table' and ctx.params.command
  if err or not COMMANDS[command] or type(result) ~= 'table' or result.ok ~= false then
    return
  end
  local message = typed(result.message, 'string')
  if not message or message == '' then
    message = command .. ' failed'
  end
  vim.notify('editseq: ' .. message, vim.log.levels.WARN)
end

--- Installs the two handlers once (globally: `editseq/status` is editseq's own method; the
--- workspace/executeCommand handler wraps the one in place and passes every reply on to it).
local handlers_installed = false
local function install_handlers()
  if handlers_installed then
    return
  end
  handlers_installed = true
  vim.lsp.handlers['editseq/status'] = M.on_status
  local previous = vim.lsp.handlers['workspace/executeCommand']
  vim.lsp.handlers['workspace/executeCommand'] = function(err, result, ctx, config)
    pcall(M.on_command_result, err, result, ctx)
    if previous then
      return previous(err, result, ctx, config)
    end
  end
end

local function map_keys()
  local termcodes = function(keys)
    return api.nvim_replace_termcodes(keys, true, false, true)
  end
  if M.config.accept_key then
    local key = M.config.accept_key
    vim.keymap.set('i', key, function()
      if not M.accept(0) then
        api.nvim_feedkeys(termcodes(key), 'n', false)
      end
    end, { desc = 'editseq: accept the suggestion' })
  end
  if M.config.dismiss_key then
    local key = M.config.dismiss_key
    vim.keymap.set('i', key, function()
      if M.is_visible(0) then
        M.dismiss(0)
        cancel(api.nvim_get_current_buf())
      else
        api.nvim_feedkeys(termcodes(key), 'n', false)
      end
    end, { desc = 'editseq: dismiss the suggestion' })
  end
end

local function builtin_setup()
  vim.lsp.inline_completion.enable(true)
  if M.config.accept_key then
    vim.keymap.set('i', M.config.accept_key, function()
      if not vim.lsp.inline_completion.get() then
        return M.config.accept_key
      end
    end, { expr = true, replace_keycodes = true, desc = 'editseq: accept the inline completion' })
  end
end

---@param opts? editseq.Config
function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', M.config, opts or {})
  install_handlers()
  if M.config.use_builtin and vim.lsp.inline_completion ~= nil then
    builtin_setup()
    return
  end
  api.nvim_set_hl(0, 'EditseqGhost', { link = M.config.hl_group, default = true })
  local group = api.nvim_create_augroup('editseq', { clear = true })
  local function wanted(bufnr)
    return vim.tbl_contains(M.config.filetypes, vim.bo[bufnr].filetype)
  end
  api.nvim_create_autocmd({ 'InsertCharPre', 'TextChangedI', 'TextChangedP' }, {
    group = group,
    callback = function(args)
      if wanted(args.buf) then
        M.dismiss(args.buf)
        schedule(args.buf)
      end
    end,
  })
  api.nvim_create_autocmd('CursorMovedI', {
    group = group,
    callback = function(args)
      local s = states[args.buf]
      if s and s.shown_at then
        local now = api.nvim_win_get_cursor(0)
        if now[1] ~= s.shown_at[1] or now[2] ~= s.shown_at[2] then
          M.dismiss(args.buf)
        end
      end
    end,
  })
  api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    callback = function(args)
      cancel(args.buf)
      M.dismiss(args.buf)
    end,
  })
  api.nvim_create_autocmd({ 'BufWipeout', 'LspDetach' }, {
    group = group,
    callback = function(args)
      cancel(args.buf)
      M.dismiss(args.buf)
      local s = states[args.buf]
      if s and s.timer then
        s.timer:close()
      end
      states[args.buf] = nil
    end,
  })
  map_keys()
end

return M
