package docker

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/drillhq/drill/harness/redact"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// logPath is where the output of a container is saved:
// <RunDir>/logs/<file>, beside the process provider's logs of the same
// names; "" when the run has no RunDir.
func (p *dockerProvider) logPath(file string) string {
	if p.cfg.RunDir == "" {
		return ""
	}
	return filepath.Join(p.cfg.RunDir, "logs", file)
}

// logSaveTimeout bounds reading one container's log from the engine.
const logSaveTimeout = 30 * time.Second

// logSaveMu keeps two saves to one file (an instance name started twice,
// stopped side by side at Close) from interleaving.
var logSaveMu sync.Mutex

// saveContainerLog appends a container's whole output, stdout and stderr
// as the engine stored them, to path: the engine keeps it only until the
// container is removed. The directory is made 0700 and the file 0600: a
// service's log may hold what its environment holds. Nothing is done for
// an empty path or a container already gone.
func saveContainerLog(ctx context.Context, cli client.APIClient, id, path string) error {
	if path == "" || cli == nil {
		return nil
	}
	// Saved even when teardown's context has ended (a Ctrl-C), but not
	// waited for forever.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logSaveTimeout)
	defer cancel()
	rc, err := cli.ContainerLogs(lctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		if isGone(err) {
			return nil
		}
		return err
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	logSaveMu.Lock()
	defer logSaveMu.Unlock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	// Without a TTY the engine multiplexes the two streams in frames.
	// Secrets are redacted on the way to disk, as the process provider's
	// logs are.
	rw := redact.NewWriter(f)
	_, err = stdcopy.StdCopy(rw, rw, rc)
	if ferr := rw.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// containerLog is the tail of a container's output, for error hints.
func containerLog(ctx context.Context, ctr testcontainers.Container) string {
	rc, err := ctr.Logs(context.WithoutCancel(ctx))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	return string(b)
}
