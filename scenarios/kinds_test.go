package scenarios

import (
	"errors"

	"github.com/drillhq/drill/injectors"
)

// testKinds are the kinds registered below, left out of the committed
// JSON Schema (shippedKinds).
var testKinds = []string{"test-params", "test-noparams", "test-dbonly"}

// Test-only fault kinds. They exercise what the real kinds (latency,
// error; registered by package injectors) do not: nested params, lists,
// maps, inline structs, a kind without params and one that only acts on
// databases.
func init() {
	injectors.Register("test-params", testParamsKind{})
	injectors.Register("test-noparams", testNoParamsKind{})
	injectors.Register("test-dbonly", testDBOnlyKind{})
}

type testMatch struct {
	Path   string `yaml:"path"`
	Method string `yaml:"method"`
}

type testCommon struct {
	Note string `yaml:"note"`
}

type testParams struct {
	testCommon `yaml:",inline"`
	Delay      injectors.Duration `yaml:"delay"`
	Share      injectors.Percent  `yaml:"share"`
	Codes      []int              `yaml:"codes"`
	Match      *testMatch         `yaml:"match"`
	Labels     map[string]int     `yaml:"labels"`
	Verbose    bool               // no tag: the key is "verbose"
	Ignored    string             `yaml:"-"`
}

type testParamsKind struct{}

func (testParamsKind) Describe() injectors.Description {
	return injectors.Description{Name: "test-params", Targets: "service | service.version"}
}

func (testParamsKind) Parse(decode func(any) error) (any, error) {
	p := testParams{Delay: injectors.Duration(5e6)} // a default of 5ms
	if err := decode(&p); err != nil {
		return nil, err
	}
	if p.Delay <= 0 {
		return nil, errors.Join(errors.New("test-params needs params.delay > 0"), errors.New("second complaint"))
	}
	return p, nil
}

func (testParamsKind) New(injectors.Spec) injectors.Injector { return nil }

type testNoParamsKind struct{}

func (testNoParamsKind) Describe() injectors.Description {
	return injectors.Description{Name: "test-noparams"}
}

func (testNoParamsKind) Parse(func(any) error) (any, error) { return nil, nil }

func (testNoParamsKind) New(injectors.Spec) injectors.Injector { return nil }

type testDBOnlyKind struct{}

func (testDBOnlyKind) Describe() injectors.Description {
	return injectors.Description{Name: "test-dbonly", Targets: "database"}
}

func (testDBOnlyKind) Parse(decode func(any) error) (any, error) {
	var p struct {
		Mode string `yaml:"mode"`
	}
	err := decode(&p)
	return p, err
}

func (testDBOnlyKind) New(injectors.Spec) injectors.Injector { return nil }
