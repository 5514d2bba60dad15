package docker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/provider/internal/host"
	"github.com/testcontainers/testcontainers-go"
)

// imageRecipe is folded into every image tag: a change to how drill stages
// a build context makes new tags even where the fixture did not change.
const imageRecipe = "drill-images-v1"

// rootfsList names the file in a build directory listing host paths to
// copy into the image (see fixtures/postgres/rootfs.txt).
const rootfsList = "rootfs.txt"

// imageBuildMu serialises builds of one tag: two instances of one fixture
// starting together must not build it twice.
var imageBuildMu sync.Mutex

// ensureImage returns the tag drill/<name>:<hash of the build context> and
// builds the image only when the engine does not have that tag. The build
// context is contextDir (its Dockerfile and files), staged with what the
// Dockerfile copies: a static binary for a Go package (CGO_ENABLED=0) or a
// Cargo project (+crt-static), and the host paths of rootfs.txt with their
// shared libraries. Nothing is pulled: the fixtures' images are FROM scratch.
func ensureImage(ctx context.Context, name, contextDir string) (string, error) {
	abs, err := filepath.Abs(contextDir)
	if err != nil {
		return "", &provider.EnvError{What: "image context " + contextDir, Err: err}
	}
	if !host.FileExists(filepath.Join(abs, "Dockerfile")) {
		return "", &provider.EnvError{What: fmt.Sprintf("image %s: %s has no Dockerfile", name, abs),
			Hint: "the docker provider builds `build:` directories from their Dockerfile"}
	}
	sum, err := contextHash(abs)
	if err != nil {
		return "", &provider.EnvError{What: "hash image context " + abs, Err: err}
	}
	tag := "drill/" + sanitizeRepo(name) + ":" + sum
	cli, err := dockerClient()
	if err != nil {
		return "", err
	}
	imageBuildMu.Lock()
	defer imageBuildMu.Unlock()
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		return tag, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", &provider.EnvError{What: "inspect image " + tag, Err: err}
	}
	staging, err := os.MkdirTemp("", "drill-image-"+host.Sanitize(name)+"-")
	if err != nil {
		return "", &provider.EnvError{What: "create staging dir", Err: err}
	}
	defer os.RemoveAll(staging)
	if err := stageContext(ctx, name, abs, staging); err != nil {
		return "", err
	}
	repo, version, _ := strings.Cut(tag, ":")
	var buildLog bytes.Buffer
	prov, err := testcontainers.NewDockerProvider()
	if err != nil {
		return "", &provider.EnvError{What: "connect to the Docker engine", Err: err}
	}
	defer prov.Close()
	_, err = prov.BuildImage(ctx, &testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
		Context: staging, Repo: repo, Tag: version, KeepImage: true, BuildLogWriter: &buildLog,
	}})
	if err != nil {
		return "", &provider.EnvError{What: "build image " + tag + " from " + abs, Err: err,
			Hint: "the build said:\n" + host.Tail(buildLog.String(), 20)}
	}
	return tag, nil
}

var repoChars = regexp.MustCompile(`[^a-z0-9_.-]+`)

func sanitizeRepo(s string) string {
	return strings.Trim(repoChars.ReplaceAllString(strings.ToLower(s), "-"), "-._")
}

// skipInContext are build outputs that are not part of a fixture's source.
func skipInContext(rel string, d fs.DirEntry) bool {
	return d.IsDir() && (rel == "target" || rel == ".git" || rel == "node_modules")
}

// contextHash hashes every file of dir (paths, modes, contents), the
// enclosing Go module's go.mod/go.sum for a Go package, and for rootfs.txt
// the listed host files' paths, sizes and modification times (hashing 60 MB
// of PostgreSQL on every start would cost more than it saves).
func contextHash(dir string) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, imageRecipe)
	add := func(path, rel string) error {
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s %o %d\n", rel, st.Mode().Perm(), st.Size())
		_, err = io.Copy(h, f)
		return err
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if skipInContext(rel, d) {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			return add(path, rel)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if host.HasGoFiles(dir) {
		if mod := goModDir(dir); mod != "" {
			for _, f := range []string{"go.mod", "go.sum"} {
				if p := filepath.Join(mod, f); host.FileExists(p) {
					if err := add(p, "module/"+f); err != nil {
						return "", err
					}
				}
			}
			// The packages of the same module the binary imports are part
			// of what it is built from (the orders fixture's OFREP
			// provider): a change to one must change the tag.
			deps, err := moduleDeps(dir, mod)
			if err != nil {
				return "", err
			}
			for _, p := range deps {
				rel, _ := filepath.Rel(mod, p)
				if err := add(p, "module/"+rel); err != nil {
					return "", err
				}
			}
		}
	}
	if host.FileExists(filepath.Join(dir, rootfsList)) {
		paths, err := rootfsPaths(filepath.Join(dir, rootfsList))
		if err != nil {
			return "", err
		}
		for _, root := range paths {
			err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				info, err := d.Info()
				if err != nil {
					return err
				}
				fmt.Fprintf(h, "host %s %v %d %d\n", path, info.Mode(), info.Size(), info.ModTime().UnixNano())
				return nil
			})
			if err != nil {
				return "", err
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// goModDir is the nearest folder at or above dir holding go.mod.
// moduleDeps lists the non-test Go files of the packages of module mod
// that the package in dir imports, directly or through each other, sorted.
func moduleDeps(dir, mod string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(mod, "go.mod"))
	if err != nil {
		return nil, err
	}
	modPath := modfileRE.FindSubmatch(data)
	if modPath == nil {
		return nil, fmt.Errorf("%s/go.mod: no module line", mod)
	}
	prefix := string(modPath[1]) + "/"
	seen := map[string]bool{dir: true}
	queue := []string{dir}
	var files []string
	fset := token.NewFileSet()
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		ents, err := os.ReadDir(d)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			name := e.Name()
			if !e.Type().IsRegular() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			path := filepath.Join(d, name)
			if d != dir {
				files = append(files, path)
			}
			f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
			if err != nil {
				return nil, err
			}
			for _, im := range f.Imports {
				ip := strings.Trim(im.Path.Value, `"`)
				if rest, ok := strings.CutPrefix(ip, prefix); ok {
					if pd := filepath.Join(mod, filepath.FromSlash(rest)); !seen[pd] {
						seen[pd] = true
						queue = append(queue, pd)
					}
				}
			}
		}
	}
	sort.Strings(files)
	return files, nil
}

var modfileRE = regexp.MustCompile(`(?m)^module\s+(\S+)`)

func goModDir(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if host.FileExists(filepath.Join(d, "go.mod")) {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// rootfsPaths reads a rootfs.txt: one host path or glob per line, # comments,
// and lines "!glob" dropping what an earlier glob matched.
func rootfsPaths(list string) ([]string, error) {
	f, err := os.Open(list)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if pat, ok := strings.CutPrefix(line, "!"); ok {
			out = slices.DeleteFunc(out, func(p string) bool { ok, _ := filepath.Match(pat, p); return ok })
			continue
		}
		m, err := filepath.Glob(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", list, err)
		}
		if len(m) == 0 {
			return nil, &provider.EnvError{What: fmt.Sprintf("%s lists %s, which is not on this machine", list, line),
				Hint: host.PostgresInstallHint}
		}
		out = append(out, m...)
	}
	return out, sc.Err()
}

// stageContext copies dir into staging and adds what its Dockerfile copies
// but the source tree does not hold: the service's binary, or a root
// filesystem taken from the host.
func stageContext(ctx context.Context, name, dir, staging string) error {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if skipInContext(rel, d) {
			return filepath.SkipDir
		}
		dst := filepath.Join(staging, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type().IsRegular():
			return copyPreserving(path, dst)
		}
		return nil
	})
	if err != nil {
		return &provider.EnvError{What: "stage image context " + dir, Err: err}
	}
	if err := os.MkdirAll(filepath.Join(staging, "empty"), 0o755); err != nil {
		return &provider.EnvError{What: "stage image context", Err: err}
	}
	switch {
	case host.FileExists(filepath.Join(dir, "Cargo.toml")):
		return stageRust(ctx, dir, staging)
	case host.HasGoFiles(dir):
		return stageGo(ctx, name, dir, staging)
	case host.FileExists(filepath.Join(dir, rootfsList)):
		return stageRootfs(ctx, filepath.Join(dir, rootfsList), filepath.Join(staging, "rootfs"))
	}
	return nil
}

func stageGo(ctx context.Context, name, dir, staging string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(staging, filepath.Base(dir)), ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	return runBuild(cmd, name)
}

func stageRust(ctx context.Context, dir, staging string) error {
	manifest, err := os.ReadFile(filepath.Join(dir, "Cargo.toml"))
	if err != nil {
		return &provider.EnvError{What: "read Cargo.toml", Err: err}
	}
	m := host.CargoName.FindSubmatch(manifest)
	if m == nil {
		return &provider.EnvError{What: dir + "/Cargo.toml has no package name"}
	}
	hostOut, err := exec.CommandContext(ctx, "rustc", "-vV").Output()
	if err != nil {
		return &provider.EnvError{What: "rustc -vV", Err: err, Hint: "install Rust (Debian: apt-get install cargo)"}
	}
	triple := regexp.MustCompile(`(?m)^host: (\S+)`).FindSubmatch(hostOut)
	if triple == nil {
		return &provider.EnvError{What: "rustc -vV names no host triple"}
	}
	// A target dir of its own: +crt-static objects must not replace the
	// process provider's dynamically linked ones. An explicit --target keeps
	// the flag off build scripts and proc macros.
	target, done, err := cargoStaticDir(string(m[1]))
	if err != nil {
		return err
	}
	defer done()
	cmd := exec.CommandContext(ctx, "cargo", "build", "--release", "--quiet", "--offline",
		"--target", string(triple[1]), "--target-dir", target)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RUSTFLAGS=-C target-feature=+crt-static")
	if err := runBuild(cmd, string(m[1])); err != nil {
		return err
	}
	return copyPreserving(filepath.Join(target, string(triple[1]), "release", string(m[1])), filepath.Join(staging, string(m[1])))
}

// cargoStaticDir is the target dir of crate's +crt-static build: per user,
// in the user's cache dir (os.UserCacheDir: $XDG_CACHE_HOME or ~/.cache),
// so cargo's cache makes the next image build of unchanged sources quick.
// Not a fixed path under /tmp, which any local user could create first
// and fill with objects that would end up in the image. Without a cache
// dir it is a fresh private temp dir, removed by done (no caching then).
func cargoStaticDir(crate string) (dir string, done func(), err error) {
	if cache, cerr := os.UserCacheDir(); cerr == nil && filepath.IsAbs(cache) {
		base := filepath.Join(cache, "drill", "cargo-static")
		if err := os.MkdirAll(base, 0o700); err != nil {
			return "", nil, &provider.EnvError{What: "create the Rust build cache " + base, Err: err}
		}
		if err := privateDir(base); err != nil {
			return "", nil, err
		}
		return filepath.Join(base, crate), func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "drill-cargo-static-")
	if err != nil {
		return "", nil, &provider.EnvError{What: "create a Rust build dir", Err: err}
	}
	return filepath.Join(tmp, crate), func() { os.RemoveAll(tmp) }, nil
}

// privateDir makes sure dir is a real directory of this user that no one
// else can write to (0700), tightening its mode if this user owns it.
func privateDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return &provider.EnvError{What: "check " + dir, Err: err}
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !st.IsDir() || !ok || int(sys.Uid) != os.Getuid() {
		return &provider.EnvError{What: dir + " is not a directory of this user",
			Hint: "drill builds into it what goes into images; remove it, or point XDG_CACHE_HOME elsewhere"}
	}
	if st.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return &provider.EnvError{What: "make " + dir + " private", Err: err}
		}
	}
	return nil
}

func runBuild(cmd *exec.Cmd, what string) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return &provider.EnvError{What: fmt.Sprintf("build %s for its image (%s)", what, strings.Join(cmd.Args, " ")), Err: err,
			Hint: "the compiler said:\n" + host.Tail(out.String(), 20)}
	}
	return nil
}

// stageRootfs copies the host paths listed in list under root, keeping
// their absolute paths, plus every shared library (and the dynamic loader)
// that ldd lists for an ELF file among them.
func stageRootfs(ctx context.Context, list, root string) error {
	paths, err := rootfsPaths(list)
	if err != nil {
		return err
	}
	libs := map[string]bool{}
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			dst := filepath.Join(root, path)
			switch {
			case d.IsDir():
				return os.MkdirAll(dst, 0o755)
			case d.Type()&fs.ModeSymlink != 0 && path != p:
				target, err := os.Readlink(path)
				if err != nil {
					return err
				}
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					return err
				}
				return os.Symlink(target, dst)
			default: // a file, or a listed path that is a symlink: its content
				if err := copyPreserving(path, dst); err != nil {
					return err
				}
				if isELF(path) {
					deps, err := lddPaths(ctx, path)
					if err != nil {
						return err
					}
					for _, l := range deps {
						libs[l] = true
					}
				}
			}
			return nil
		})
		if err != nil {
			return &provider.EnvError{What: "stage " + p + " for the image", Err: err}
		}
	}
	sorted := make([]string, 0, len(libs))
	for l := range libs {
		sorted = append(sorted, l)
	}
	sort.Strings(sorted)
	for _, l := range sorted {
		dst := filepath.Join(root, l)
		if host.FileExists(dst) {
			continue
		}
		// The library's content at the path ldd named (symlinks resolved):
		// the image has no ld.so.cache, LD_LIBRARY_PATH points there.
		if err := copyPreserving(l, dst); err != nil {
			return &provider.EnvError{What: "stage library " + l, Err: err}
		}
	}
	return nil
}

func isELF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == "\x7fELF"
}

// lddPaths lists the absolute paths ldd prints for an ELF file: libraries
// ("libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)") and the loader.
func lddPaths(ctx context.Context, path string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ldd", path).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, nil // not a dynamic executable (static, or a data file)
		}
		return nil, &provider.EnvError{What: "ldd " + path, Err: err, Hint: "ldd comes with libc (Debian: libc-bin)"}
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0])
		}
	}
	return libs, nil
}

// copyPreserving copies a file's content (through symlinks) and mode.
func copyPreserving(src, dst string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
