package harness

import (
	"strings"
	"testing"

	"github.com/drillhq/drill/harness/internal/testdb"
	"github.com/drillhq/drill/harness/provider"
)

// TestConnOfDatabases: a PostgreSQL database's fault point is its proxy;
// SQLite has none, and says why.
func TestConnOfDatabases(t *testing.T) {
	_, pg := testdb.Postgres(t)
	d := &System{dbs: map[string]*provider.DatabaseHandle{"pg": pg, "lite": testdb.SQLite(t)}}
	if p, err := d.Conn("pg"); err != nil || p != pg.Proxy {
		t.Errorf("Conn(pg) = %v, %v; want its proxy", p, err)
	}
	if _, err := d.Conn("lite"); err == nil || !strings.Contains(err.Error(), "need a PostgreSQL database") {
		t.Errorf("Conn(lite) err = %v", err)
	}
	if _, err := d.Conn("nope"); err == nil {
		t.Error("Conn(nope) succeeded")
	}
}
