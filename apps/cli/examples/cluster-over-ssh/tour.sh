flo apply -f hosts.yaml
flo get hosts
flo apply -f app.yaml --dry-run
flo apply -f app.yaml --wait
flo get instances -o wide
flo get services
flo scale replicaset/web --replicas 5 --wait
flo describe replicaset/web
flo cordon node03
flo drain node03 --wait
flo uncordon node03
flo delete -f app.yaml
