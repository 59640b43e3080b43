"""The Octave side of a check: ``relu_diag_driver.m``, the loop that calls the user's function.

relu-diag writes this file into a private temporary folder and starts ``octave-cli`` on it
once per check, beside ``relu_diag_bind.m`` (``BIND``): the call as an anonymous function of
W, the data file's variables its arguments, so the expression is parsed as Octave code in a
file (no string is evaluated). The driver reads requests from one pipe and writes replies to another
(little-endian float64 words, text as bytes), so the user's own output (``disp``, a missing
semicolon) goes to Octave's log and never mixes with the replies.

Requests, each a header of 5 words ``[op, n, P, n_idx, n_vals]``:

* ``op 1``: call at one W: P words. Reply kind 2: ``[f, f class, df class, rows, cols, df]``.
* ``op 2``: a block of n points: a base W (P words), n counts, n_idx indices (1-based),
  n_vals values. Point i is the base with ``counts(i)`` entries replaced (the next indices
  and values), or, for a count of -1, the next P values whole. One reply per call, as it
  finishes: kind 1 ``[f, f class]``.
* ``op 0`` or end of input: quit.

Replies are ``[kind, length]`` and a payload of ``length`` words (kinds 0 ready, 1, 2) or
bytes (kind 3: the user's error as ``file``, ``line``, ``message`` on three lines, the file
``--call`` for an expression Octave cannot read; kind 4: an unusable return value, one
line). A call that fails ends its block. Classes: 1 double, 2 single, 3 integer or logical
(sent as double).
"""

DRIVER_NAME, BIND_NAME = "relu_diag_driver", "relu_diag_bind"

BIND = """function fh = relu_diag_bind({names})
  % the function relu-diag checks, as a function of the parameters W alone
  fh = @(W) {expr};
end
"""

DRIVER = r"""function relu_diag_driver(in_fd, out_fd)
  % relu-diag's side of a gradient check: set up, then answer requests until told to stop.
  fin = fopen(sprintf('/dev/fd/%d', in_fd), 'r');
  fout = fopen(sprintf('/dev/fd/%d', out_fd), 'w');
  more off;
  try
    fh = relu_diag_setup(fin);
  catch err
    relu_diag_error(fout, err);
    return;
  end
  relu_diag_reply(fout, 0, []);
  while true
    h = fread(fin, 5, 'double');
    if numel(h) < 5 || h(1) == 0
      break;
    end
    P = h(3);
    if h(1) == 1
      relu_diag_call(fh, fread(fin, P, 'double'), fout);
      continue;
    end
    base = fread(fin, P, 'double');
    counts = fread(fin, h(2), 'double');
    idx = fread(fin, h(4), 'double');
    vals = fread(fin, h(5), 'double');
    j = 0;
    v = 0;
    for i = 1:h(2)
      k = counts(i);
      if k < 0
        W = vals(v + 1:v + P);
        v = v + P;
      else
        W = base;
        W(idx(j + 1:j + k)) = vals(v + 1:v + k);
        j = j + k;
        v = v + k;
      end
      try
        [f, df] = fh(W);
      catch err
        relu_diag_error(fout, err);
        break;
      end
      if isa(f, 'double') && isscalar(f) && isreal(f) && ~issparse(f)  % inline: the usual case
        fwrite(fout, [1, 2, f, 1], 'double');
        if fflush(fout) ~= 0  % relu-diag is gone: stop now, not after the block
          return;
        end
      elseif ~relu_diag_answer(f, df, fout, false)
        break;
      end
    end
  end
end

function fh = relu_diag_setup(fin)
  % Put the user's folder on the path, run a script file, and bind the data to the call.
  folder = relu_diag_text(fin);
  script = relu_diag_text(fin);
  n = fread(fin, 1, 'double');
  values = cell(1, n);
  for i = 1:n
    dims = fread(fin, fread(fin, 1, 'double'), 'double')';
    values{i} = reshape(fread(fin, prod(dims), 'double'), dims);
  end
  addpath(folder);
  if ~isempty(script)
    source(script);
  end
  try
    fh = relu_diag_bind(values{:});
  catch err
    error('relu_diag:call', '%s', err.message);
  end
end

function s = relu_diag_text(fin)
  s = char(fread(fin, fread(fin, 1, 'double'), 'uint8')');
end

function relu_diag_call(fh, W, fout)
  % Call the user's function at W; reply with f and df, or with what went wrong.
  try
    [f, df] = fh(W);
  catch err
    relu_diag_error(fout, err);
    return;
  end
  relu_diag_answer(f, df, fout, true);
end

function ok = relu_diag_answer(f, df, fout, want_df)
  % Reply with f (and df), or with why they cannot be used.
  ok = false;
  [fc, msg] = relu_diag_class(f, 'f');
  if isempty(msg) && numel(f) ~= 1
    msg = sprintf('f must be a scalar loss; got a %s %s', relu_diag_size(f), class(f));
  end
  if isempty(msg) && want_df
    [dc, msg] = relu_diag_class(df, 'df');
  end
  if ~isempty(msg)
    relu_diag_reply(fout, 4, uint8(msg));
    return;
  end
  if want_df
    relu_diag_reply(fout, 2, [full(double(f)), fc, dc, size(df, 1), ...
                              numel(df) / max(size(df, 1), 1), full(double(df(:)'))]);
  else
    relu_diag_reply(fout, 1, [full(double(f)), fc]);
  end
  ok = true;
end

function [code, msg] = relu_diag_class(x, what)
  % The class code of a returned value, or why it cannot be used.
  code = 0;
  msg = '';
  if ~(isnumeric(x) || islogical(x)) || ~isreal(x)
    kind = class(x);
    if isnumeric(x)
      kind = ['complex ' kind];
    end
    msg = sprintf('%s must hold real numbers; got a %s %s', what, relu_diag_size(x), kind);
  elseif isa(x, 'double')
    code = 1;
  elseif isa(x, 'single')
    code = 2;
  else
    code = 3;
  end
end

function s = relu_diag_size(x)
  s = strjoin(arrayfun(@num2str, size(x), 'UniformOutput', false), 'x');
end

function relu_diag_error(fout, err)
  % Reply with the innermost frame of the user's code, its line, and Octave's message.
  file = '';
  line = 0;
  for k = 1:numel(err.stack)
    s = err.stack(k);
    if ~isempty(s.file) && isempty(strfind(s.file, 'relu_diag_driver'))
      file = s.file;
      line = s.line;
      break;
    end
  end
  if strcmp(err.identifier, 'relu_diag:call')
    file = '--call';
  end
  relu_diag_reply(fout, 3, uint8(sprintf('%s\n%d\n%s', file, line, err.message)));
end

function relu_diag_reply(fout, kind, payload)
  if isa(payload, 'uint8')
    fwrite(fout, [kind, numel(payload)], 'double');
    fwrite(fout, payload, 'uint8');
  else
    fwrite(fout, [kind, numel(payload), payload], 'double');
  end
  fflush(fout);
end
"""
