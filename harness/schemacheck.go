package harness

import (
	"context"
	"fmt"
	"strings"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/scenarios"
)

// schemaVerdict is the schema check's result for the report.
type schemaVerdict struct {
	restored *bool // nil: not checked
	version  string
	diff     []string
}

// snapshotBaseline records every database's schema before the rollout, so
// that `schema: baseline` can compare the schema after the rollback with
// it. Only when the scenario asks: a snapshot is not free on a big schema.
func (sys *System) snapshotBaseline(ctx context.Context) error {
	if sys.sc.Verify.Data.Schema != scenarios.SchemaBaseline {
		return nil
	}
	sys.schemaBefore = map[string]dbcheck.Schema{}
	for _, db := range sys.sc.Environment.Databases {
		s, err := sys.snapshot(ctx, db.Name)
		if err != nil {
			return fmt.Errorf("schema snapshot of %s before the rollout: %w", db.Name, err)
		}
		sys.schemaBefore[db.Name] = s
		sys.j.Record(journal.SchemaSnapshot, "database", db.Name, "phase", "before rollout", "facts", len(s.Lines))
	}
	return nil
}

func (sys *System) snapshot(ctx context.Context, name string) (dbcheck.Schema, error) {
	h := sys.dbs[name]
	db, err := dbcheck.OpenDB(h)
	if err != nil {
		return dbcheck.Schema{}, err
	}
	defer db.Close()
	return dbcheck.Snapshot(ctx, db, h.Engine)
}

// checkSchema decides whether the rollback restored the schema. The
// migration version is always checked after a rollback or abort (a
// rollback whose down migration failed has not restored anything, asked or
// not); the full snapshot comparison runs when the scenario says
// `schema: baseline`. After a promotion the schema is meant to be the new
// version's, so nothing is compared: the caller does not ask.
func (d *drill) checkSchema(ctx context.Context, sys *System, g group) schemaVerdict {
	var v schemaVerdict
	restored := true
	var why, versions []string
	for _, rel := range g {
		svc := rel.svc
		if _, migratedUp, _ := rel.state(); svc.Database == "" || sys.dbs[svc.Database] == nil || !migratedUp {
			continue
		}
		version := "unknown"
		st, err := sys.migrator(svc).State()
		switch {
		case err != nil:
			restored = false
			why = append(why, "cannot read the schema version: "+err.Error())
		default:
			version = st.String()
			if st.Dirty || st.None || st.Version != rel.base.Migration {
				restored = false
				why = append(why, fmt.Sprintf("schema version %s, baseline %d", st, rel.base.Migration))
			}
		}
		if len(g) > 1 {
			version = svc.Database + " " + version
		}
		versions = append(versions, version)
	}
	if len(versions) > 0 {
		v.version = strings.Join(versions, ", ")
		if !restored || sys.schemaBefore == nil {
			v.restored = &restored
		}
	}
	if sys.schemaBefore != nil {
		for _, db := range sys.sc.Environment.Databases {
			after, err := sys.snapshot(ctx, db.Name)
			if err != nil {
				restored = false
				why = append(why, fmt.Sprintf("schema snapshot of %s: %v", db.Name, err))
				continue
			}
			for _, line := range dbcheck.Diff(sys.schemaBefore[db.Name], after) {
				if len(sys.sc.Environment.Databases) > 1 {
					line = line[:2] + db.Name + ": " + line[2:]
				}
				v.diff = append(v.diff, line)
			}
		}
		if len(v.diff) > 0 {
			restored = false
			why = append(why, fmt.Sprintf("%d schema facts differ from before the rollout", len(v.diff)))
		}
		v.restored = &restored
	}
	if v.restored == nil {
		return v
	}
	d.j.Record(journal.SchemaCheck, "restored", restored, "version", v.version, "diff", v.diff, "detail", strings.Join(why, "; "))
	if restored {
		d.say("schema: restored")
		return v
	}
	d.say("schema: NOT restored: %s", strings.Join(why, "; "))
	for _, line := range v.diff {
		d.say("  %s", line)
	}
	return v
}
