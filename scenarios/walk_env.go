package scenarios

import (
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

func (w *walk) environment(o *object) {
	e := w.env
	e.Provider = DefaultProvider
	o.require(environmentFields.required...)
	// Which names are providers is the registry's to say (ProviderProblems).
	e.ProviderPos = w.pos(o.at)
	if o.str("provider", &e.Provider) {
		e.ProviderPos = w.pos(o.get("provider"))
	}
	for _, kv := range o.entries("databases") {
		e.Databases = append(e.Databases, w.database(kv, join(o.where, "databases")))
	}
	services := o.entries("services")
	if n := o.get("services"); n != nil && len(services) == 0 && (isNull(n) || n.Kind == yaml.MappingNode) {
		w.add(o.key("services"), "", "environment.services: at least one service is required")
	}
	// All services first, then the checks that need them all: an env
	// placeholder may name a service defined further down.
	var later []func()
	for _, kv := range services {
		s, check := w.service(kv, join(o.where, "services"))
		e.Services = append(e.Services, s)
		later = append(later, check)
	}
	for _, check := range later {
		check()
	}
}

func (w *walk) checkEntityName(k *yaml.Node, what string) {
	if !entityNameRE.MatchString(k.Value) {
		w.add(k, "use letters, digits, '-' and '_' (no dots: names appear in targets like svc.version)",
			"invalid %s name %q", what, k.Value)
	}
}

func (w *walk) database(e kv, where string) *Database {
	d := &Database{Name: e.k.Value, Pos: w.pos(e.k)}
	w.checkEntityName(e.k, "database")
	o := w.object(e.k, e.v, join(where, d.Name), databaseFields.known...)
	o.require(databaseFields.required...)
	if o.str("engine", &d.Engine) {
		w.choice(o.get("engine"), "engine", d.Engine, supportedEngines, nil)
	}
	if o.str("image", &d.Image) && d.Engine == EngineSQLite {
		w.add(o.key("image"), "leave image out: a SQLite database is a file the services share",
			"image: applies to a postgres database, not to %s", d.Engine)
	}
	return d
}

// service walks one service; the returned check validates what depends on
// the whole environment.
func (w *walk) service(e kv, where string) (*Service, func()) {
	s := &Service{Name: e.k.Value, Health: DefaultHealth, Pos: w.pos(e.k)}
	w.checkEntityName(e.k, "service")
	where = join(where, s.Name)
	o := w.object(e.k, e.v, where, serviceFields.known...)

	if o.str("language", &s.Language) && !slices.Contains(languages, s.Language) {
		w.add(o.get("language"), "language is informational: leave it out for services in other languages",
			"unknown language %q (known: go, rust)", s.Language)
	}
	if o.str("build", &s.Build) {
		s.BuildPos = w.pos(o.get("build"))
	}
	o.str("image", &s.Image)
	o.command("command", &s.Command)
	if w.exclusive(o, "build", "image", "command") == 0 && o.present && o.ok {
		w.add(o.at, "e.g. build: fixtures/orders, or command: [./bin/orders, --flag]",
			"service %q needs one of build, image or command", s.Name)
	}
	if o.str("health", &s.Health) && !strings.HasPrefix(s.Health, "/") {
		w.add(o.get("health"), "", "health: %q must be a path starting with /", s.Health)
	}
	o.str("database", &s.Database)
	if o.has("migrations") {
		s.MigrationsPos = w.pos(o.get("migrations"))
	}
	if o.str("migrations", &s.Migrations) && s.Database == "" {
		w.add(o.key("migrations"), "set database: NAME to say which database they apply to",
			"migrations: service %q has no database", s.Name)
	} else if !o.has("migrations") && s.Build != "" {
		s.Migrations = path.Join(s.Build, "migrations")
	}
	env := o.envMap("env", &s.Env, &s.SecretEnv)

	var versionEnvs []kv
	versions := o.entries("versions")
	if o.present && o.ok && len(versions) == 0 {
		w.add(o.at, "e.g. versions: {v1: {}, v2: {env: {DEFECT: latency=300ms}}}",
			"service %q needs at least one version", s.Name)
	}
	for _, kv := range versions {
		v, venv := w.version(kv, join(where, "versions"), s)
		s.Versions = append(s.Versions, v)
		versionEnvs = append(versionEnvs, venv...)
	}
	if len(s.Versions) > 0 {
		s.Baseline = s.Versions[0].Name
	}
	if o.str("baseline", &s.Baseline) && len(s.Versions) > 0 {
		w.refVersion(o.get("baseline"), "baseline", s, s.Baseline)
	}

	return s, func() {
		if s.Database != "" {
			w.refDatabase(o.get("database"), "database", s.Database)
		}
		for _, kv := range append(env, versionEnvs...) {
			w.checkEnvPlaceholders(kv.v, "env "+kv.k.Value, kv.v.Value, w.env)
			w.loopbacks = append(w.loopbacks, w.loopback(kv.v, "env "+kv.k.Value, kv.v.Value)...)
		}
		if w.env.Database(s.Name) != nil {
			w.add(e.k, "rename one of them", "service %q has the name of a database: fault targets would be ambiguous", s.Name)
		}
	}
}

func (w *walk) version(e kv, where string, s *Service) (*Version, []kv) {
	v := &Version{Name: e.k.Value, Pos: w.pos(e.k)}
	if !versionNameRE.MatchString(v.Name) {
		w.add(e.k, "use letters, digits, '.', '-' and '_'", "invalid version name %q", v.Name)
	}
	o := w.object(e.k, e.v, join(where, v.Name), versionFields.known...)
	var migration int64
	if o.int64("migration", &migration) {
		switch {
		case migration < 0:
			w.add(o.get("migration"), "", "migration: must not be negative, got %d", migration)
		case migration > 0 && s.Database == "":
			w.add(o.get("migration"), "set database: NAME on the service",
				"migration: service %q has no database to migrate", s.Name)
		case migration > 0 && s.Migrations == "":
			w.add(o.get("migration"), "set migrations: DIR on the service (the default, BUILD/migrations, needs build)",
				"migration: service %q has no migrations directory", s.Name)
		default:
			v.Migration = uint(migration)
			v.MigrationPos = w.pos(o.get("migration"))
		}
	}
	if o.str("build", &v.Build) {
		v.BuildPos = w.pos(o.get("build"))
	}
	o.str("image", &v.Image)
	o.command("command", &v.Command)
	w.exclusive(o, "build", "image", "command")
	return v, o.envMap("env", &v.Env, &v.SecretEnv)
}
