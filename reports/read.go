package reports

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/drillhq/drill/internal/boundedfile"
)

// MaxReportSize bounds the report.json that Read accepts, in bytes. A real
// drill's report is a few MB (its series and timeline grow with the
// drill's length); the bound is far above that and low enough that a
// report path that is a link to /dev/zero, or a runaway file, fails at
// once instead of filling memory.
const MaxReportSize = 512 << 20

// Decode parses data, the bytes of a report.json, into a Report with nil
// lists and maps made empty, as Read does. Bytes that are not a drill
// report (not JSON, no schema_version) or that a newer drill wrote (a
// higher schema_version) are an error, never a half-read report.
func Decode(data []byte) (*Report, error) {
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	switch {
	case r.SchemaVersion == 0:
		return nil, errors.New("no schema_version: not a drill report")
	case r.SchemaVersion < 0:
		return nil, fmt.Errorf("schema_version %d is not a version: not a drill report", r.SchemaVersion)
	case r.SchemaVersion > SchemaVersion:
		return nil, fmt.Errorf("schema_version %d is newer than this drill understands (%d); upgrade drill", r.SchemaVersion, SchemaVersion)
	}
	r = r.normalized()
	return &r, nil
}

// readRegular reads the report.json at path through MaxReportSize.
func readRegular(path string, limit int64) ([]byte, error) {
	return boundedfile.Read(path, limit, "report")
}
