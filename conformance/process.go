package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/target"
)

// Placeholders a target's process commands, environment and health URLs
// may use, as ${NAME}; $$ is a literal $. docs/conformance.md lists them.
const (
	varIssuerURL  = "TEST_ISSUER_URL"
	varIssuerJWKS = "TEST_ISSUER_JWKS_URL"
	varIssuerAlg  = "TEST_ISSUER_ALG"
	varIssuerCA   = "TEST_ISSUER_CA_FILE"
	varWorkDir    = "WORKDIR"
	varTargetDir  = "TARGET_DIR"
)

// Bounds on starting and stopping processes.
const (
	processStartTimeout = 20 * time.Second
	processStopTimeout  = 5 * time.Second
	logTailBytes        = 2 << 10
)

// Expand replaces ${NAME} with vars[NAME] and $$ with $. Any other $, and
// any name vars lacks, is an error: a typo must not silently become "".
func Expand(s string, vars map[string]string) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		s = s[i+1:]
		switch {
		case strings.HasPrefix(s, "$"):
			b.WriteByte('$')
			s = s[1:]
		case strings.HasPrefix(s, "{"):
			name, rest, ok := strings.Cut(s[1:], "}")
			v, known := vars[name]
			if !ok || !known {
				return "", fmt.Errorf("unknown placeholder ${%s} (known: %s; write $$ for a literal $)", name, strings.Join(sortedNames(vars), ", "))
			}
			b.WriteString(v)
			s = rest
		default:
			return "", errors.New("a lone $: write ${NAME} for a placeholder or $$ for a literal $")
		}
	}
}

// processes are the target's processes while a run lasts.
type processes struct {
	target  *target.Target
	vars    map[string]string
	logsDir string
	running []*process
	work    string // ${WORKDIR}, removed at stop
}

type process struct {
	name   string
	index  int // in target.Processes
	health string
	cmd    *exec.Cmd
	log    string
	exited chan struct{} // closed once the process has exited
}

// startProcesses runs the target's processes in order and waits until each
// answers its health URL. A process that exits first is reported at once,
// with its exit status and the end of its output. Output goes to
// logsDir/NAME.log when logsDir is set (kept), else to the work directory.
func startProcesses(ctx context.Context, t *target.Target, vars map[string]string, logsDir string) (*processes, error) {
	ps := &processes{target: t, vars: vars}
	if len(t.Processes) == 0 {
		return ps, nil
	}
	var err error
	if ps.work, err = os.MkdirTemp("", "conformance-"); err != nil {
		return nil, err
	}
	if logsDir == "" {
		logsDir = ps.work
	} else if err := os.MkdirAll(logsDir, 0o755); err != nil {
		ps.stop()
		return nil, fmt.Errorf("%w: -logs: %w", ErrConfig, err)
	}
	vars[varWorkDir] = ps.work
	ps.logsDir = logsDir
	for i := range t.Processes {
		p, err := ps.start(i)
		if err == nil {
			err = p.waitHealthy(ctx, p.health)
		}
		if err != nil {
			ps.stop()
			return nil, err
		}
	}
	return ps, nil
}

// restart stops the process named name and starts it again, as a crash
// and a restart would leave it, and waits until it is healthy.
func (ps *processes) restart(ctx context.Context, name string) error {
	for i, p := range ps.running {
		if p.name != name {
			continue
		}
		p.terminate()
		ps.running = slices.Delete(ps.running, i, i+1)
		np, err := ps.start(p.index)
		if err != nil {
			return err
		}
		return np.waitHealthy(ctx, np.health)
	}
	return fmt.Errorf("no running process named %q", name)
}

func (ps *processes) start(i int) (*process, error) {
	spec, vars := ps.target.Processes[i], ps.vars
	fail := func(what string, err error) (*process, error) {
		return nil, fmt.Errorf("%w: processes[%d].%s (process %q): %w", ErrConfig, i, what, spec.Name, err)
	}
	args := make([]string, len(spec.Command))
	for j, a := range spec.Command {
		var err error
		if args[j], err = Expand(a, vars); err != nil {
			return fail(fmt.Sprintf("command[%d]", j), err)
		}
	}
	if strings.Contains(args[0], "/") && !filepath.IsAbs(args[0]) {
		args[0] = filepath.Join(vars[varTargetDir], args[0])
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = vars[varTargetDir]
	cmd.Env = os.Environ()
	for _, k := range sortedNames(spec.Env) {
		v, err := Expand(spec.Env[k], vars)
		if err != nil {
			return fail("env."+k, err)
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	health, err := Expand(spec.Health, vars)
	if err != nil {
		return fail("health", err)
	}
	p := &process{name: spec.Name, index: i, health: health, cmd: cmd, log: filepath.Join(ps.logsDir, spec.Name+".log"), exited: make(chan struct{})}
	// Appended to, so a restarted process's log follows its first life's.
	logFile, err := os.OpenFile(p.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%w: log of %s: %w", ErrConfig, spec.Name, err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fail("command", err)
	}
	ps.running = append(ps.running, p)
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// waitHealthy polls url until it answers 200, the process exits, or the
// start timeout passes.
func (p *process) waitHealthy(ctx context.Context, url string) error {
	deadline := time.Now().Add(processStartTimeout)
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("%w: process %q: health: %w", ErrConfig, p.name, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("answered %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: process %q: no 200 from %s within %s (last: %v)%s", ErrConfig, p.name, url, processStartTimeout, err, p.tail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.exited:
			return fmt.Errorf("%w: process %q exited before it was healthy (%s)%s", ErrConfig, p.name, p.cmd.ProcessState, p.tail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tail is the end of the process's output, for error messages.
func (p *process) tail() string {
	data, err := os.ReadFile(p.log)
	if err != nil || len(data) == 0 {
		return "; it wrote nothing (log: " + p.log + ")"
	}
	if len(data) > logTailBytes {
		data = data[len(data)-logTailBytes:]
	}
	return fmt.Sprintf("; the end of its log (%s):\n%s", p.log, bytes.TrimRight(data, "\n"))
}

// stop ends every process (SIGTERM, then SIGKILL after processStopTimeout)
// and removes the work directory.
func (ps *processes) stop() {
	for _, p := range ps.running {
		p.terminate()
	}
	if ps.work != "" {
		os.RemoveAll(ps.work)
	}
}

// terminate sends SIGTERM, then SIGKILL after processStopTimeout.
func (p *process) terminate() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(processStopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
