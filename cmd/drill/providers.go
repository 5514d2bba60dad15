package main

// The providers drill ships, registered by their packages' init: the
// harness asks the registry and names none of them. A new provider is one
// more import here.
import (
	_ "github.com/drillhq/drill/harness/provider/docker"
	_ "github.com/drillhq/drill/harness/provider/process"
)
