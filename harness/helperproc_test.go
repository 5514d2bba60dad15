package harness

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a service (see
// TestHelperProcess) instead of running tests.
const helperEnv = "DRILL_TEST_HELPER"

// TestHelperProcess is not a test: run as a child with helperEnv=slow-first,
// it is a service listening on 127.0.0.1:$PORT that answers every request,
// but the first $SLOW_FIRST requests to paths other than /healthz only
// after $SLOW_FOR.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "slow-first" {
		helperSlowFirst()
	}
}

func helperSlowFirst() {
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	first, _ := strconv.Atoi(os.Getenv("SLOW_FIRST"))
	delay, _ := time.ParseDuration(os.Getenv("SLOW_FOR"))
	var n atomic.Int64
	err = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && n.Add(1) <= int64(first) {
			time.Sleep(delay) // the slowness under test, not a wait for something
		}
		fmt.Fprintln(w, "ok")
	}))
	fmt.Fprintln(os.Stderr, "helper:", err)
	os.Exit(1)
}
