#!/usr/bin/env node
// Renders matcalc's LaTeX and Markdown output with a real renderer (KaTeX,
// markdown-it) and fails on anything KaTeX rejects.
//
// Usage:
//   node tools/render/render.mjs latex    [options] [[--label NAME] FILE|-]...
//   node tools/render/render.mjs markdown [options] [[--label NAME] FILE|-]...
//
// Inputs: files, or `-` / none for standard input. `--label NAME` names the
// input that follows it in failure lines (default: the file's path, or
// `stdin`); with no file at all, it names standard input.
//
// latex mode: every non-blank line of an input is one LaTeX math string
// (lines are not joined, so a formula must fit on one line; matcalc prints
// one per line). With --json an input is instead a JSON array of strings,
// one formula each (which may contain newlines); with --whole an input is
// one formula, all its lines together.
// Each formula is rendered with
//   katex.renderToString(s, {displayMode: true, throwOnError: true, strict: 'error'})
//
// markdown mode: each input is one Markdown document, parsed by markdown-it
// (CommonMark + tables + strikethrough, no raw HTML) with these math forms:
//   $...$      inline math             (a literal dollar is written \$)
//   $$...$$    display math, inline within a paragraph or as a block whose
//              opening line starts with $$ and whose closing line ends with $$
//   ```math    a fenced display-math block
// Code spans, code fences and indented code are never math. A `$` or `$$`
// that is never closed is an error. Every math span is rendered by KaTeX as
// in latex mode (displayMode false for $...$).
//
// Options:
//   --json         latex mode: inputs are JSON arrays of strings
//   --whole        latex mode: each input is one (multi-line) formula
//   --html FILE    also write the rendered HTML (all inputs, failures marked
//                  in red) to FILE, with KaTeX's stylesheet inlined, to look at
//   --quiet        no summary line on stderr
//
// Output: one line per failure on stdout, `LABEL:LINE: MESSAGE` (latex --json:
// `LABEL[INDEX]: MESSAGE`, 1-based), MESSAGE being KaTeX's own. Exit status:
// 0 when everything rendered, 1 when something failed, 2 on a usage or I/O
// error or when node_modules is missing or does not match package-lock.json.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SETUP_HINT = 'run scripts/setup (it runs npm ci --prefix tools/render)';

// The renderers, loaded only once they are known to be installed at the
// versions package-lock.json pins, so that a missing or stale node_modules
// says what to do instead of throwing a module-resolution stack trace.
function checkInstall() {
  const lock = JSON.parse(fs.readFileSync(path.join(HERE, 'package-lock.json'), 'utf8'));
  for (const name of ['katex', 'markdown-it']) {
    const want = lock.packages[`node_modules/${name}`].version;
    let have;
    try {
      have = JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules', name, 'package.json'), 'utf8')).version;
    } catch {
      return `${name} is not installed in tools/render/node_modules: ${SETUP_HINT}`;
    }
    if (have !== want)
      return `tools/render/node_modules has ${name} ${have}, package-lock.json pins ${want}: ${SETUP_HINT}`;
  }
  return null;
}
const installError = checkInstall();
if (installError) {
  process.stderr.write(`render: ${installError}\n`);
  process.exit(2);
}
const katex = (await import('katex')).default;
const MarkdownIt = (await import('markdown-it')).default;

const KATEX_OPTIONS = { throwOnError: true, strict: 'error' };

function usage(msg) {
  process.stderr.write(`render: ${msg}\n` +
    'usage: render.mjs latex|markdown [--json|--whole] [--html FILE] [--quiet] [[--label NAME] FILE|-]...\n');
  process.exit(2);
}

// One line: KaTeX messages are single-line, but a formula quoted in one may not be.
function oneLine(s) { return String(s).replace(/\r?\n/g, '\\n'); }

function escapeHtml(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

// Renders one formula: {html} or {error}.
function renderMath(tex, displayMode) {
  try {
    return { html: katex.renderToString(tex, { ...KATEX_OPTIONS, displayMode }) };
  } catch (e) {
    const message = e instanceof katex.ParseError ? e.message : `${e.name || 'Error'}: ${e.message}`;
    return { error: oneLine(message) };
  }
}

function errorHtml(tex, error, displayMode) {
  const tag = displayMode ? 'div' : 'span';
  return `<${tag} class="render-error" title="${escapeHtml(error)}"><code>${escapeHtml(tex)}</code>` +
    ` <small>${escapeHtml(error)}</small></${tag}>`;
}

// ---------------------------------------------------------------- latex mode

function latexItems(text, opts, label) {
  if (opts.whole) return { items: text.trim() === '' ? [] : [{ where: `${label}:1`, tex: text }] };
  if (opts.json) {
    let items;
    try {
      items = JSON.parse(text);
    } catch (e) {
      return { error: `${label}: not a JSON array of strings: ${oneLine(e.message)}` };
    }
    if (!Array.isArray(items) || !items.every((s) => typeof s === 'string'))
      return { error: `${label}: not a JSON array of strings` };
    return { items: items.map((tex, i) => ({ where: `${label}[${i + 1}]`, tex })) };
  }
  const items = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() !== '') items.push({ where: `${label}:${i + 1}`, tex: line });
  });
  return { items };
}

function renderLatex(inputs, opts, report) {
  const sections = [];
  for (const input of inputs) {
    const parsed = latexItems(input.text, opts, input.label);
    if (parsed.error) {
      report.fail(parsed.error);
      sections.push({ label: input.label, html: `<p class="render-error">${escapeHtml(parsed.error)}</p>` });
      continue;
    }
    let html = '';
    for (const { where, tex } of parsed.items) {
      const r = renderMath(tex, true);
      report.count();
      if (r.error) report.fail(`${where}: ${r.error}`);
      html += `<div class="item"><div class="where">${escapeHtml(where)}</div>` +
        (r.error ? errorHtml(tex, r.error, true) : r.html) + '</div>\n';
    }
    sections.push({ label: input.label, html });
  }
  return sections;
}

// ------------------------------------------------------------- markdown mode

// Index of the `$` closing inline math that starts at `start` (just past the
// opening delimiter), skipping `\$` (and any other backslash pair); -1 if none.
function findClosingDollar(src, start, max, double) {
  for (let pos = start; pos < max; pos++) {
    const ch = src.charCodeAt(pos);
    if (ch === 0x5C /* \ */) { pos++; continue; }
    if (ch !== 0x24 /* $ */) continue;
    if (!double) return pos;
    if (pos + 1 < max && src.charCodeAt(pos + 1) === 0x24) return pos;
  }
  return -1;
}

// Inline rule: $...$ and $$...$$ inside a paragraph, heading or table cell.
// `\$` never reaches it (markdown-it's escape rule runs first and makes it a
// literal dollar), nor does a `$` inside a code span (the backticks rule
// consumes the whole span).
function mathInline(state, silent) {
  const src = state.src;
  const start = state.pos;
  if (src.charCodeAt(start) !== 0x24 /* $ */) return false;
  const double = start + 1 < state.posMax && src.charCodeAt(start + 1) === 0x24;
  const open = double ? 2 : 1;
  const close = findClosingDollar(src, start + open, state.posMax, double);
  if (close < 0) {
    if (silent) return false;  // link-label scanning: let it be text; the real pass reports it
    const token = state.push('math_error', '', 0);
    token.content = src.slice(start, start + open);
    token.meta = {
      offset: start,
      error: `unbalanced ${double ? '$$' : '$'}: math opened here is never closed ` +
        '(write a literal dollar as \\$)',
    };
    state.pos = start + open;
    return true;
  }
  if (!silent) {
    const token = state.push(double ? 'math_inline_display' : 'math_inline', 'math', 0);
    token.markup = double ? '$$' : '$';
    token.content = src.slice(start + open, close);
    token.meta = { offset: start };
  }
  state.pos = close + open;
  return true;
}

// Block rule: display math whose first line starts with $$ and whose last
// line ends with $$ (possibly the same line: $$x$$).
function mathBlock(state, startLine, endLine, silent) {
  let pos = state.bMarks[startLine] + state.tShift[startLine];
  let max = state.eMarks[startLine];
  if (state.sCount[startLine] - state.blkIndent >= 4) return false;  // indented code
  if (pos + 2 > max || state.src.slice(pos, pos + 2) !== '$$') return false;
  const first = state.src.slice(pos + 2, max);
  // `$$x$$ and more text` is display math inside a paragraph: the inline rule's.
  const end = findClosingDollar(first, 0, first.length, true);
  if (end >= 0 && first.slice(end + 2).trim() !== '') return false;
  if (silent) return true;

  const lines = [];
  let nextLine = startLine;
  let closed = false;
  if (end >= 0) {
    lines.push(first.slice(0, end));
    closed = true;
  } else {
    lines.push(first);
    for (nextLine = startLine + 1; nextLine < endLine; nextLine++) {
      pos = state.bMarks[nextLine] + state.tShift[nextLine];
      max = state.eMarks[nextLine];
      if (pos < max && state.sCount[nextLine] < state.blkIndent) break;  // left the list item
      const line = state.src.slice(pos, max).trimEnd();
      if (line.endsWith('$$')) {
        lines.push(line.slice(0, -2));
        closed = true;
        break;
      }
      lines.push(line);
    }
  }
  if (!closed) {
    const token = state.push('math_error', '', 0);
    token.map = [startLine, startLine + 1];
    token.content = '$$';
    token.meta = { error: 'unbalanced $$: display math opened here is never closed', block: true };
    state.line = startLine + 1;
    return true;
  }
  const token = state.push('math_block', 'math', 0);
  token.block = true;
  token.markup = '$$';
  token.content = lines.join('\n');
  token.map = [startLine, nextLine + 1];
  state.line = nextLine + 1;
  return true;
}

function mathPlugin(md) {
  md.inline.ruler.after('escape', 'math_inline', mathInline);
  md.block.ruler.before('fence', 'math_block', mathBlock, { alt: ['paragraph', 'reference', 'blockquote', 'list'] });
  const rendered = (tokens, idx) => tokens[idx].meta.html;
  md.renderer.rules.math_inline = rendered;
  md.renderer.rules.math_inline_display = rendered;
  md.renderer.rules.math_block = (tokens, idx) => tokens[idx].meta.html + '\n';
  md.renderer.rules.math_error = (tokens, idx) =>
    errorHtml(tokens[idx].content, tokens[idx].meta.error, tokens[idx].meta.block);
  const fence = md.renderer.rules.fence;
  md.renderer.rules.fence = (tokens, idx, options, env, self) =>
    tokens[idx].meta && tokens[idx].meta.html !== undefined
      ? tokens[idx].meta.html + '\n'
      : fence(tokens, idx, options, env, self);
}

function isMathFence(token) {
  return token.type === 'fence' && token.info.trim().split(/\s+/)[0] === 'math';
}

// Renders every math token of a parsed document in place (meta.html) and
// reports the failures with their 1-based source lines.
function renderMarkdownMath(tokens, label, report) {
  let lastLine = 0;  // 0-based line of the nearest block token with a map
  const fail = (line, tex, error, display) => {
    report.fail(`${label}:${line + 1}: ${error}`);
    return errorHtml(tex, error, display);
  };
  for (const token of tokens) {
    if (token.map) lastLine = token.map[0];
    if (token.type === 'math_block' || isMathFence(token)) {
      const r = renderMath(token.content, true);
      report.count();
      // A fence's error points at its first content line, a $$ block's at its opening line.
      const line = isMathFence(token) ? lastLine + 1 : lastLine;
      token.meta = { ...(token.meta || {}), html: r.error ? fail(line, token.content, r.error, true) : r.html };
    } else if (token.type === 'math_error') {
      report.fail(`${label}:${lastLine + 1}: ${token.meta.error}`);
    } else if (token.type === 'inline' && token.children) {
      for (const child of token.children) {
        const line = () => lastLine + (token.content.slice(0, child.meta.offset).match(/\n/g) || []).length;
        if (child.type === 'math_inline' || child.type === 'math_inline_display') {
          const display = child.type === 'math_inline_display';
          const r = renderMath(child.content, display);
          report.count();
          child.meta.html = r.error ? fail(line(), child.content, r.error, display) : r.html;
        } else if (child.type === 'math_error') {
          report.fail(`${label}:${line() + 1}: ${child.meta.error}`);
        }
      }
    }
  }
}

function renderMarkdown(inputs, report) {
  const md = new MarkdownIt('commonmark', { html: false }).enable(['table', 'strikethrough']).use(mathPlugin);
  return inputs.map((input) => {
    const env = {};
    const tokens = md.parse(input.text, env);
    renderMarkdownMath(tokens, input.label, report);
    return { label: input.label, html: md.renderer.render(tokens, md.options, env) };
  });
}

// -------------------------------------------------------------------- output

function writeHtml(file, mode, sections) {
  const dist = path.join(HERE, 'node_modules', 'katex', 'dist');
  // The stylesheet inlined, its fonts pointing into node_modules.
  const css = fs.readFileSync(path.join(dist, 'katex.min.css'), 'utf8')
    .replace(/url\(fonts\//g, `url(${pathToFileURL(path.join(dist, 'fonts')).href}/`);
  const body = sections.map((s) =>
    `<section><h2 class="input">${escapeHtml(s.label)}</h2>\n${s.html}</section>`).join('\n');
  fs.writeFileSync(file, `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>matcalc ${mode} render check</title>
<style>${css}</style>
<style>
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; }
h2.input { font-size: 1em; border-bottom: 1px solid #ccc; }
.item { margin: .5em 0; } .where { color: #888; font-size: .8em; }
.render-error { color: #c00; } .render-error code { white-space: pre-wrap; }
</style></head><body>
${body}
</body></html>
`);
}

function main(argv) {
  const [mode, ...rest] = argv;
  if (mode !== 'latex' && mode !== 'markdown') usage(`mode must be latex or markdown, not '${mode ?? ''}'`);
  const opts = { json: false, whole: false, html: null, quiet: false };
  const inputs = [];
  let label = null;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--json') opts.json = true;
    else if (a === '--whole') opts.whole = true;
    else if (a === '--quiet') opts.quiet = true;
    else if (a === '--html' || a === '--label') {
      if (i + 1 >= rest.length) usage(`${a} needs an argument`);
      if (a === '--html') opts.html = rest[++i];
      else label = rest[++i];
    } else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else {
      inputs.push({ file: a, label: label ?? (a === '-' ? 'stdin' : a) });
      label = null;
    }
  }
  // A trailing --label names standard input when no file is given.
  if (label !== null && inputs.length > 0) usage('--label must come before the input it names');
  if ((opts.json || opts.whole) && mode !== 'latex') usage('--json and --whole are for latex mode');
  if (opts.json && opts.whole) usage('--json or --whole, not both');
  if (inputs.length === 0) inputs.push({ file: '-', label: label ?? 'stdin' });
  for (const input of inputs) {
    try {
      input.text = fs.readFileSync(input.file === '-' ? 0 : input.file, 'utf8');
    } catch (e) {
      usage(`cannot read ${input.file}: ${e.message}`);
    }
  }

  const failures = [];
  let rendered = 0;
  const report = { fail: (line) => failures.push(line), count: () => { rendered++; } };
  const sections = mode === 'latex' ? renderLatex(inputs, opts, report) : renderMarkdown(inputs, report);

  for (const f of failures) process.stdout.write(f + '\n');
  if (opts.html) writeHtml(opts.html, mode, sections);
  if (!opts.quiet) {
    const what = `${rendered} math item(s) in ${inputs.length} ${mode} input(s)`;
    process.stderr.write(failures.length
      ? `render: FAILED: ${failures.length} failure(s); ${what}\n`
      : `render: ok: ${what} rendered by KaTeX ${katex.version}\n`);
  }
  return failures.length ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
