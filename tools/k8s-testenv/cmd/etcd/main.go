// Command etcd is the upstream etcd server (go.etcd.io/etcd/server/v3), built
// from this module so that it uses the same etcd release as the pinned
// k8s.io/kubernetes. `go install go.etcd.io/etcd/server/v3@...` cannot be
// used directly because etcd's server go.mod carries replace directives.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
