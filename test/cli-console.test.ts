// The default guest's console fed from a pipe: the end of the piped input
// reaches the guest shell (it exits and the guest powers off), and Ctrl-C
// interrupts the command the shell runs (the shell has a controlling terminal).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');

test('when piped input ends, the guest shell sees the end of input: it exits, the guest powers off, status 0', () => {
  const r = spawnSync(process.execPath, [XMHF, 'run', '--timeout', '120'], {
    encoding: 'utf8', timeout: 150_000, input: 'echo piped-$((6*7))\nsleep 2\necho after-sleep\n',
  });
  assert.equal(r.status, 0, `status ${r.status}; stderr: ${r.stderr}`);
  assert.match(r.stdout, /^piped-42\r?$/m);
  assert.match(r.stdout, /^after-sleep\r?$/m, 'input typed ahead during a command still runs');
  assert.match(r.stdout, /reboot: Power down/);
});

test('Ctrl-C on the piped console interrupts the guest\'s foreground command; the shell goes on', async () => {
  const child = spawn(process.execPath, [XMHF, 'run', '--timeout', '90'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '', err = '';
  const waiters: Array<() => void> = [];
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; waiters.forEach((w) => w()); });
  child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  /** Wait until the guest's output (after `from`) matches `re`. */
  const seen = (re: RegExp, from = 0) => new Promise<number>((resolve, reject) => {
    const check = () => { const m = re.exec(out.slice(from)); if (m) resolve(from + m.index + m[0].length); };
    waiters.push(check);
    check();
    exited.then(() => reject(new Error(`xmhf ended before ${re}; stdout: ${JSON.stringify(out.slice(-600))} stderr: ${err}`)));
  });
  // The shell's prompt; its line editor then asks the terminal where the cursor is (ESC [6n), unanswered here.
  const PROMPT = /# (?:\x1b\[6n)?$/;
  try {
    const prompt = await seen(PROMPT);
    child.stdin.write('sleep 100\n');
    const echoed = await seen(/sleep 100\r?\n/, prompt);
    // Give the shell time to start sleep as its foreground job, then interrupt it.
    await new Promise((r) => setTimeout(r, 3000));
    child.stdin.write('\x03');
    const interrupted = Date.now();
    const back = await seen(PROMPT, echoed);
    child.stdin.write('echo "ali""ve"\n'); // the echoed command line does not match the answer
    await seen(/^alive\r?$/m, back);
    assert.ok(Date.now() - interrupted < 60_000, 'the shell answered long before sleep 100 would have ended');
    child.stdin.end();
    assert.equal(await exited, 0, `stderr: ${err}`);
  } finally {
    child.kill('SIGKILL');
  }
});
