package harness

import (
	"context"
	"fmt"
	"strings"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// schemaCheck is what the drill knows of the schema: the snapshots taken
// before the rollout, and the verdict after the rollback.
type schemaCheck struct {
	before   map[string]dbcheck.Schema // per database, after the baseline migration
	restored *bool
	version  string
	diff     []string
}

// snapshotBaseline records every database's schema before the rollout, so
// that `schema: baseline` can compare the schema after the rollback with
// it. Only when the scenario asks: a snapshot is not free on a big schema.
func (d *drill) snapshotBaseline(ctx context.Context) error {
	if d.sc.Verify.Data.Schema != scenarios.SchemaBaseline {
		return nil
	}
	d.schema.before = map[string]dbcheck.Schema{}
	for _, db := range d.sc.Environment.Databases {
		s, err := d.snapshot(ctx, db.Name)
		if err != nil {
			return fmt.Errorf("schema snapshot of %s before the rollout: %w", db.Name, err)
		}
		d.schema.before[db.Name] = s
		d.j.Record(journal.SchemaSnapshot, "database", db.Name, "phase", "before rollout", "facts", len(s.Lines))
	}
	return nil
}

func (d *drill) snapshot(ctx context.Context, name string) (dbcheck.Schema, error) {
	h := d.dbs[name]
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
// version's, so nothing is compared.
func (d *drill) checkSchema(ctx context.Context) {
	if d.outcome == reports.OutcomePromoted {
		if d.schema.before != nil {
			d.j.Record(journal.SchemaCheck, "skipped", "promoted: the schema is the new version's by design")
		}
		return
	}
	restored := true
	var why []string
	svc := d.sc.Environment.Service(d.sc.Rollout.Service)
	if svc != nil && svc.Database != "" && d.dbs[svc.Database] != nil && d.migratedUp {
		base := svc.Version(svc.Baseline)
		st, err := d.migrator(svc).State()
		switch {
		case err != nil:
			restored = false
			d.schema.version = "unknown"
			why = append(why, "cannot read the schema version: "+err.Error())
		default:
			d.schema.version = st.String()
			if st.Dirty || st.None || st.Version != base.Migration {
				restored = false
				why = append(why, fmt.Sprintf("schema version %s, baseline %d", st, base.Migration))
			}
		}
		if !restored || d.schema.before == nil {
			d.schema.restored = &restored
		}
	}
	if d.schema.before != nil {
		for _, db := range d.sc.Environment.Databases {
			after, err := d.snapshot(ctx, db.Name)
			if err != nil {
				restored = false
				why = append(why, fmt.Sprintf("schema snapshot of %s: %v", db.Name, err))
				continue
			}
			for _, line := range dbcheck.Diff(d.schema.before[db.Name], after) {
				if len(d.sc.Environment.Databases) > 1 {
					line = line[:2] + db.Name + ": " + line[2:]
				}
				d.schema.diff = append(d.schema.diff, line)
			}
		}
		if len(d.schema.diff) > 0 {
			restored = false
			why = append(why, fmt.Sprintf("%d schema facts differ from before the rollout", len(d.schema.diff)))
		}
		d.schema.restored = &restored
	}
	if d.schema.restored == nil {
		return
	}
	d.j.Record(journal.SchemaCheck, "restored", restored, "version", d.schema.version, "diff", d.schema.diff, "detail", strings.Join(why, "; "))
	if restored {
		d.say("schema: restored")
		return
	}
	d.say("schema: NOT restored: %s", strings.Join(why, "; "))
	for _, line := range d.schema.diff {
		d.say("  %s", line)
	}
}
