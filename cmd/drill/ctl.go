package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/gameday"
)

// cmdCtl sends one operator command to a running drill over the control
// socket in its run directory, and prints the drill's answer.
func (c *cli) cmdCtl(ctx context.Context, args []string) int {
	fs := newFlagSet(c, "ctl")
	as := fs.String("as", osUser(), "who sends the command, for the journal and the report")
	asJSON := fs.Bool("json", false, "print the drill's reply (with its status) as JSON")
	timeout := fs.Duration("timeout", 3*time.Minute, "how long to wait for the drill's reply (an inject waits for its fault to be in place)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitInvalid
	}
	if len(pos) < 2 {
		c.errorf("ctl needs a run directory and a command (%s)", strings.Join(gameday.Commands, ", "))
		c.tryf("drill ctl .drill/runs/NAME-STAMP status")
		return ExitInvalid
	}
	runDir, name, rest := pos[0], strings.ToLower(pos[1]), pos[2:]
	if !slices.Contains(gameday.Commands, name) {
		c.errorf("unknown command %q (known: %s)", name, strings.Join(gameday.Commands, ", "))
		return ExitInvalid
	}
	arg := strings.Join(rest, " ")
	switch name {
	case gameday.CmdNote, gameday.CmdInject, gameday.CmdRevert:
		if arg == "" {
			c.errorf("%s needs an argument", name)
			c.tryf("drill ctl %s %s %s", runDir, name, map[string]string{"note": `"p99 climbing on v2"`, "inject": "FAULT", "revert": "FAULT"}[name])
			return ExitInvalid
		}
	default:
		if arg != "" {
			c.errorf("%s takes no argument (got %q)", name, arg)
			return ExitInvalid
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := gameday.Send(ctx, runDir, gameday.Command{Name: name, Arg: arg, As: *as, Via: "ctl"})
	if err != nil {
		c.errorf("%v", err)
		if errors.Is(err, gameday.ErrNoDrill) {
			c.tryf("the drill may have ended: its report is %s/report.json", runDir)
		}
		return ExitEnvironment
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else if name == gameday.CmdStatus && rep.Status != nil {
		fmt.Fprintln(c.stdout, rep.Status.Summary())
	} else if rep.OK {
		fmt.Fprintln(c.stdout, rep.Message)
	}
	if !rep.OK {
		c.errorf("%s: %s", name, rep.Message)
		return ExitInvalid
	}
	return ExitOK
}

// osUser is the default --as: the OS user's login name.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return cmp.Or(os.Getenv("USER"), "operator")
}
