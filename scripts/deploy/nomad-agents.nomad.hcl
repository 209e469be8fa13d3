# loadgen agents as a Nomad batch job: `count` allocations of one group, each one
# shard of the run (`--shard auto` reads NOMAD_ALLOC_INDEX and NOMAD_GROUP_COUNT;
# Nomad gives a task no variable for its group's count, so the job sets it: keep
# it equal to `count`), all beginning their warm-up at one START_AT, each writing its
# result to a host volume every client mounts from one shared file system. Then:
#   loadgen merge /results/RUN_ID-agent-*.json --out /results/RUN_ID-merged.json
#
#   nomad job run -var start_at=$(( $(date +%s) + 120 )) -var run_id=bench-1 \
#     -var target=echod.service.consul:12000 scripts/deploy/nomad-agents.nomad.hcl
variable "target" { type = string }
variable "start_at" { type = string }
variable "run_id" { type = string }
variable "conns" {
  type    = number
  default = 40000
}

job "loadgen-agents" {
  type = "batch"

  group "agents" {
    count = 4

    # One agent per client node: agents on one node share its cores and its stack.
    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }
    # A retried agent would begin after START_AT: a failed one fails the run.
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    volume "results" {
      type   = "host"
      source = "loadgen-results"
    }

    task "loadgen" {
      driver = "exec"
      # A bound: START_AT's lead, warm-up and duration, with room to spare.
      kill_timeout = "30s"
      config {
        command = "loadgen"
        args = [
          "--target=${var.target}",
          "--conns=${var.conns}",
          "--shard=auto",
          "--start-at=${var.start_at}",
          "--run-id=${var.run_id}",
          "--quiet",
          "--duration=60s",
          "--warmup=5s",
          "--json=/results/${var.run_id}-agent-${NOMAD_ALLOC_INDEX}.json",
        ]
      }
      env {
        NOMAD_GROUP_COUNT = "4"
      }
      volume_mount {
        volume      = "results"
        destination = "/results"
      }
      resources {
        cpu    = 4000
        memory = 2048
      }
    }
  }
}
