// Tiny command-line parser shared by the test servers.
// spec: { name: { type: 'string'|'int'|'bool'|'list', default, help } }
// Accepts --name value, --name=value; 'list' options may repeat.
export function parseArgs(argv, spec, usage) {
  const out = {};
  for (const [name, opt] of Object.entries(spec)) {
    if (opt.type === 'list') out[name] = [];
    else if (opt.type === 'bool') out[name] = false;
    else out[name] = opt.default;
  }
  const fail = (msg) => {
    process.stderr.write(`error: ${msg}\n\n${usageText(spec, usage)}`);
    process.exit(2);
  };
  for (let i = 0; i < argv.length; i += 1) {
    let arg = argv[i];
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(usageText(spec, usage));
      process.exit(0);
    }
    if (!arg.startsWith('--')) fail(`unexpected argument ${JSON.stringify(arg)}`);
    arg = arg.slice(2);
    let value;
    const eq = arg.indexOf('=');
    if (eq !== -1) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const opt = spec[arg];
    if (!opt) fail(`unknown option --${arg}`);
    if (opt.type === 'bool') {
      if (value !== undefined) fail(`--${arg} takes no value`);
      out[arg] = true;
      continue;
    }
    if (value === undefined) {
      i += 1;
      if (i >= argv.length) fail(`--${arg} needs a value`);
      value = argv[i];
    }
    if (opt.type === 'int') {
      if (!/^[0-9]{1,9}$/.test(value)) fail(`--${arg} must be a non-negative integer, got ${JSON.stringify(value)}`);
      const n = Number(value);
      if (opt.min !== undefined && n < opt.min) fail(`--${arg} must be >= ${opt.min}`);
      if (opt.max !== undefined && n > opt.max) fail(`--${arg} must be <= ${opt.max}`);
      out[arg] = n;
    } else if (opt.type === 'list') {
      out[arg].push(value);
    } else {
      if (opt.choices && !opt.choices.includes(value)) {
        fail(`--${arg} must be one of ${opt.choices.join(', ')}, got ${JSON.stringify(value)}`);
      }
      out[arg] = value;
    }
  }
  for (const [name, opt] of Object.entries(spec)) {
    if (opt.type === 'list' && out[name].length === 0 && opt.default) out[name] = [...opt.default];
  }
  return out;
}

export function usageText(spec, usage) {
  const lines = [usage, '', 'Options:'];
  for (const [name, opt] of Object.entries(spec)) {
    let left = `  --${name}`;
    if (opt.type !== 'bool') left += ` ${opt.metavar || name.toUpperCase().replace(/-/g, '_')}`;
    let right = opt.help || '';
    if (opt.type === 'list') right += ' (repeatable)';
    if (opt.default !== undefined && opt.type !== 'bool') {
      right += ` [default: ${Array.isArray(opt.default) ? opt.default.join(' ') : opt.default}]`;
    }
    lines.push(`${left.padEnd(36)} ${right}`);
  }
  lines.push(`${'  -h, --help'.padEnd(36)} show this help`);
  return `${lines.join('\n')}\n`;
}
