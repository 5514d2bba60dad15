// Command peerbench (make bench-peer) measures drill's router beside its
// peer, Toxiproxy, in one run on one machine: the same upstream (a small
// JSON answer), the same client (vegeta with keep-alive), reached three
// ways — directly, through a Toxiproxy proxy with no toxics (a TCP
// proxy), and through drill's router (an HTTP reverse proxy that records
// every request per version, with a 90/10 split and fault points on).
//
// Two measurements, each target in turn, interleaved round by round so
// that all three see the same machine:
//
//   - throughput: as fast as -workers keep-alive workers go, for
//     -duration each, -rounds times;
//   - latency: at a fixed -rate, the p50 each adds to the direct p50.
//
// Beside each throughput run, the CPU time this process and Toxiproxy's
// used per request (Linux: /proc): what each way of proxying costs the
// machine, which unlike requests/s does not depend on how much CPU other
// processes leave (Toxiproxy is a process of its own, so on a busy
// machine it gets a share of the CPU of its own; drill's router shares
// this process with the client and the upstream, as in a drill).
//
// -cpuprofile writes a CPU profile of the router's throughput runs (where
// the time goes). -router-process adds a fourth target, router-proc: the
// same router in a process of its own, as Toxiproxy is, which shows how
// much of a difference in requests/s is the CPU share a busy machine
// gives each process rather than what proxying costs.
//
//	go run ./harness/router/peerbench -toxiproxy PATH [-workers 64] [-duration 8s] [-rounds 3] [-rate 2000] [-router-process]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/harness/router"
)

func main() {
	toxiBin := flag.String("toxiproxy", "", "path to Toxiproxy's server binary (make bench-peer builds v2.5.0)")
	workers := flag.Uint64("workers", 64, "vegeta workers in the throughput runs")
	duration := flag.Duration("duration", 8*time.Second, "length of each run")
	rounds := flag.Int("rounds", 3, "throughput rounds")
	rate := flag.Int("rate", 2000, "requests/s of the latency runs")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the router's throughput runs here")
	routerProcess := flag.Bool("router-process", false, "also measure the router in a process of its own (target router-proc)")
	serveRouter := flag.String("serve-router", "", "internal: serve a router in front of this upstream URL, print its URL, until stdin closes")
	flag.Parse()
	if *serveRouter != "" {
		if err := serveRouterProcess(*serveRouter); err != nil {
			fmt.Fprintln(os.Stderr, "peerbench:", err)
			os.Exit(1)
		}
		return
	}
	if *toxiBin == "" {
		fmt.Fprintln(os.Stderr, "peerbench: -toxiproxy PATH is required (make bench-peer builds it)")
		os.Exit(2)
	}
	if err := run(*toxiBin, *workers, *duration, *rounds, *rate, *cpuprofile, *routerProcess); err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		os.Exit(1)
	}
}

type target struct{ name, url string }

func run(toxiBin string, workers uint64, duration time.Duration, rounds, rate int, cpuprofile string, routerProcess bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	body := []byte(`{"id":"SKU-1","price_cents":1250,"currency":"EUR"}`)
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})}
	go func() { _ = upstream.Serve(up) }()
	defer upstream.Close()
	upURL := "http://" + up.Addr().String()

	toxiURL, toxiPID, stop, err := startToxiproxy(ctx, toxiBin, up.Addr().String())
	if err != nil {
		return err
	}
	defer stop()

	rt, routerURL, err := startRouter(ctx, upURL)
	if err != nil {
		return err
	}
	defer rt.Close()

	targets := []target{{"direct", upURL}, {"toxiproxy", toxiURL}, {"router", routerURL}}
	childPID := 0
	if routerProcess {
		url, pid, stop, err := startRouterProcess(upURL)
		if err != nil {
			return err
		}
		defer stop()
		targets, childPID = append(targets, target{"router-proc", url}), pid
	}
	fmt.Printf("upstream %s; toxiproxy v2.5.0 (no toxics); drill router (split 90/10, recording per version)\n", upURL)
	fmt.Printf("throughput: %d keep-alive workers, %s each, %d rounds\n\n", workers, duration, rounds)
	var prof *os.File
	if cpuprofile != "" {
		if prof, err = os.Create(cpuprofile); err != nil {
			return err
		}
		defer prof.Close()
	}
	best := map[string]float64{}
	fmt.Printf("%-6s %-11s %12s %10s %10s %14s\n", "round", "target", "requests/s", "p50", "errors", "CPU µs/req")
	for r := 1; r <= rounds; r++ {
		for _, t := range targets {
			profiling := prof != nil && t.name == "router"
			if profiling {
				if err := pprof.StartCPUProfile(prof); err != nil {
					return err
				}
			}
			cpu0 := cpuTime(os.Getpid()) + cpuTime(toxiPID) + cpuTime(childPID)
			m := attack(t.url, vegeta.Rate{}, workers, duration)
			cpu := cpuTime(os.Getpid()) + cpuTime(toxiPID) + cpuTime(childPID) - cpu0
			if profiling {
				pprof.StopCPUProfile()
				prof = nil // one profile: the first round's
			}
			rps := float64(m.Requests-uint64(len(m.Errors))) / m.Duration.Seconds()
			best[t.name] = max(best[t.name], rps)
			perReq := "-"
			if cpu > 0 && m.Requests > 0 {
				perReq = fmt.Sprintf("%.1f", float64(cpu.Microseconds())/float64(m.Requests))
			}
			fmt.Printf("%-6d %-11s %12.0f %10s %9.2f%% %14s\n", r, t.name, rps, m.Latencies.P50.Round(time.Microsecond), 100*(1-m.Success), perReq)
		}
	}
	fmt.Printf("\nbest of %d: router %.0f/s, toxiproxy %.0f/s, direct %.0f/s: router = %.2f× toxiproxy\n",
		rounds, best["router"], best["toxiproxy"], best["direct"], best["router"]/best["toxiproxy"])
	if routerProcess {
		fmt.Printf("router in its own process %.0f/s = %.2f× toxiproxy\n", best["router-proc"], best["router-proc"]/best["toxiproxy"])
	}
	fmt.Println()

	fmt.Printf("latency at %d requests/s, %s each\n\n", rate, duration)
	p50 := map[string]time.Duration{}
	fmt.Printf("%-11s %10s %10s %14s\n", "target", "p50", "p99", "added p50")
	for _, t := range targets {
		m := attack(t.url, vegeta.Rate{Freq: rate, Per: time.Second}, 0, duration)
		p50[t.name] = m.Latencies.P50
		added := ""
		if t.name != "direct" {
			added = (m.Latencies.P50 - p50["direct"]).Round(time.Microsecond).String()
		}
		fmt.Printf("%-11s %10s %10s %14s\n", t.name, m.Latencies.P50.Round(time.Microsecond), m.Latencies.P99.Round(time.Microsecond), added)
	}
	return nil
}

// attack runs vegeta against url: at rate, or as fast as workers go when
// rate is zero, for duration.
func attack(url string, rate vegeta.Rate, workers uint64, duration time.Duration) *vegeta.Metrics {
	opts := []func(*vegeta.Attacker){vegeta.KeepAlive(true), vegeta.Connections(256), vegeta.MaxBody(-1)}
	if workers > 0 {
		opts = append(opts, vegeta.Workers(workers), vegeta.MaxWorkers(workers))
	}
	a := vegeta.NewAttacker(opts...)
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url + "/items/1"})
	var m vegeta.Metrics
	for res := range a.Attack(tr, rate, duration, "bench") {
		m.Add(res)
	}
	m.Close()
	return &m
}

// startRouter starts a router as the benchmark measures it: split 90/10
// between two versions served by upstream, recording per version.
func startRouter(ctx context.Context, upstream string) (*router.Router, string, error) {
	rt := router.New("bench", metrics.NewRecorder("bench"), router.WithSeed(1))
	url, err := rt.Start(ctx)
	if err != nil {
		return nil, "", err
	}
	for _, v := range []string{"v1", "v2"} {
		if err := rt.SetBackend(v, upstream); err != nil {
			rt.Close()
			return nil, "", err
		}
	}
	rt.SetSplit("v1", "v2", 0.1)
	return rt, url, nil
}

// serveRouterProcess is the router-proc child: startRouter, its URL on
// stdout, until stdin closes (the parent stops or exits).
func serveRouterProcess(upstream string) error {
	rt, url, err := startRouter(context.Background(), upstream)
	if err != nil {
		return err
	}
	defer rt.Close()
	fmt.Println(url)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// startRouterProcess starts this program as a router-proc child; it
// returns the router's URL, the child's process ID and a function that
// stops it.
func startRouterProcess(upstream string) (string, int, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(exe, "-serve-router", upstream)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", 0, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop := func() {
		in.Close()
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("router process: %w", err)
	}
	return strings.TrimSpace(line), cmd.Process.Pid, stop, nil
}

// cpuTime returns the user and system CPU time process pid has used, 0
// where /proc cannot tell.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces, in parentheses):
	// utime and stime are the 14th and 15th of the line, in clock ticks.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	const hz = 100 // USER_HZ, 100 on every Linux ABI Go supports
	return time.Duration(ticks) * time.Second / hz
}

// startToxiproxy starts Toxiproxy's server on a free loopback port and
// creates one proxy, with no toxics, in front of upstream; it returns the
// proxy's URL, the server's process ID and a function that stops it.
func startToxiproxy(ctx context.Context, bin, upstream string) (string, int, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.CommandContext(ctx, bin, "-host", "127.0.0.1", "-port", fmt.Sprint(port))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("start toxiproxy: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	api := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(api + "/version")
		if err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", 0, nil, fmt.Errorf("toxiproxy did not answer on %s within 10s: %v\n%s", api, err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	req, _ := json.Marshal(map[string]any{"name": "bench", "listen": "127.0.0.1:0", "upstream": upstream, "enabled": true})
	res, err := http.Post(api+"/proxies", "application/json", bytes.NewReader(req))
	if err != nil {
		stop()
		return "", 0, nil, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var p struct {
		Listen string `json:"listen"`
	}
	if err := json.Unmarshal(b, &p); err != nil || res.StatusCode != http.StatusCreated || strings.HasSuffix(p.Listen, ":0") {
		stop()
		return "", 0, nil, fmt.Errorf("create the toxiproxy proxy: %s %s", res.Status, b)
	}
	return "http://" + p.Listen, cmd.Process.Pid, stop, nil
}
