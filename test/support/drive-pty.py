"""Runs a command in a pseudo-terminal and answers its prompts, as a person would.

Usage: python3 drive-pty.py '<json>' where the JSON holds
  cmd:     the command (a list), env: its environment (an object), cwd
  steps:   [{"expect": regex, "send": text}], in order
  until:   a regex; once the output matches it, the child gets SIGINT
  timeout: seconds for each wait
Prints the whole transcript; exits with the child's exit code, or 124 when a wait timed out.
Standard library only (pty, select), so it runs on any Linux or macOS with python3.
"""
import fcntl, json, os, pty, re, select, signal, struct, sys, termios, time

spec = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.chdir(spec.get("cwd", "."))
    os.execvpe(spec["cmd"][0], spec["cmd"], spec["env"])

# A terminal of 0 columns (the default of a new pty) makes prompt libraries wrap after every character.
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))

out = b""
pos = 0  # each wait looks only at what came after the last match

def read_until(pattern, timeout):
    global out, pos
    deadline = time.time() + timeout
    regex = re.compile(pattern.encode())
    while not regex.search(out, pos):
        left = deadline - time.time()
        if left <= 0:
            return False
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return bool(regex.search(out, pos))
            if not chunk:
                return bool(regex.search(out, pos))
            out += chunk
    pos = regex.search(out, pos).end()
    return True

def finish(code):
    sys.stdout.write(out.decode("utf-8", "replace"))
    sys.stdout.flush()
    sys.exit(code)

timeout = spec.get("timeout", 60)
for step in spec["steps"]:
    if not read_until(step["expect"], timeout):
        os.kill(pid, signal.SIGKILL)
        finish(124)
    # A prompt library may redraw after its first paint: let it settle before typing.
    time.sleep(0.3)
    os.write(fd, step["send"].encode())
if spec.get("until"):
    if not read_until(spec["until"], timeout):
        os.kill(pid, signal.SIGKILL)
        finish(124)
    # The line may print a moment before the child starts listening for the signal.
    time.sleep(1.5)
    os.kill(pid, signal.SIGINT)
# Drain until the child exits.
deadline = time.time() + timeout
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.5)
    if ready:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
_, status = os.waitpid(pid, 0)
finish(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8)
