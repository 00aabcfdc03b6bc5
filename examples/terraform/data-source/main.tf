# bbvars as the program of Terraform's `external` data source: it reports which Pipelines variables differ.
#
# Data sources are read on every `terraform plan` (and on apply and refresh), before anyone has approved anything.
# So this one only compares: dry_run = "true" sends no write. To write the variables when the change is applied,
# use ../apply-time (a terraform_data resource with a local-exec provisioner) or ../outputs-pipe.sh.
#
# Credentials come from Terraform's environment, which the program inherits: BITBUCKET_CLIENT_ID and
# BITBUCKET_CLIENT_SECRET (an OAuth consumer), or BITBUCKET_ACCESS_TOKEN. Keep them out of `query`: the query is
# stored in the state.
#
#   terraform init && terraform apply -var workspace=acme -var repository=api

terraform {
  required_providers {
    external = {
      source  = "hashicorp/external"
      version = "~> 2.3"
    }
  }
}

variable "workspace" {
  type = string
}

variable "repository" {
  type = string
}

locals {
  # Numbers and booleans become their JSON text ("3", "true"); lists and maps compact JSON.
  pipeline_variables = {
    API_URL  = "https://api.example.com"
    REPLICAS = 3
    ZONES    = ["eu-west-1a", "eu-west-1b"]
  }
}

data "external" "bbvars" {
  program = ["bbvars", "terraform"]

  # A map of strings, as the protocol requires: structured values go through jsonencode().
  query = {
    workspace  = var.workspace
    repository = var.repository
    variables  = jsonencode(local.pipeline_variables)
    dry_run    = "true"
  }
}

# The answer is a map of strings too: key lists are comma-joined ("" when empty, hence compact()).
output "to_create" {
  value = compact(split(",", data.external.bbvars.result.created))
}

output "to_update" {
  value = compact(split(",", data.external.bbvars.result.updated))
}

output "in_sync" {
  value = data.external.bbvars.result.changed == "false"
}
