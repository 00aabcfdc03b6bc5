# Write Pipelines variables when, and only when, `terraform apply` runs: a terraform_data resource whose local-exec
# provisioner pipes the values into `bbvars sync`. A change of any value replaces the resource, which runs the
# provisioner again; a failed sync fails the apply and the next apply retries it. Built in since Terraform 1.4: no
# provider to download.
#
# Credentials come from Terraform's environment, which the provisioner inherits: BITBUCKET_CLIENT_ID and
# BITBUCKET_CLIENT_SECRET (an OAuth consumer), or BITBUCKET_ACCESS_TOKEN.
#
#   TF_VAR_db_password=... terraform apply -var workspace=acme -var repository=api

terraform {
  required_version = ">= 1.4"
}

variable "workspace" {
  type = string
}

variable "repository" {
  type = string
}

variable "db_password" {
  type      = string
  sensitive = true
}

variable "bbvars" {
  type        = string
  default     = "bbvars"
  description = "The command that runs bbvars, e.g. \"python3 -m bbvars\" or a full path."
}

# Stands in for real infrastructure: a database, a load balancer, a bucket...
resource "terraform_data" "app" {
  input = {
    api_url  = "https://api.example.com"
    replicas = 3
  }
}

locals {
  pipeline_variables = {
    API_URL     = terraform_data.app.output.api_url
    REPLICAS    = terraform_data.app.output.replicas
    DB_PASSWORD = var.db_password
  }
}

resource "terraform_data" "pipeline_variables" {
  triggers_replace = sha256(jsonencode(local.pipeline_variables))

  provisioner "local-exec" {
    # Values travel in the environment and a pipe, never on a command line (where `ps` shows them). jsonencode()
    # drops Terraform's sensitivity, so --secured names the secrets. Add --environment NAME for a deployment
    # environment, --prune to delete the variables this list no longer has. Terraform hides the provisioner's
    # output because the environment holds a sensitive value.
    command = <<-EOT
      printf '%s' "$PIPELINE_VARIABLES" |
        ${var.bbvars} sync --workspace "$TARGET_WORKSPACE" --repository "$TARGET_REPOSITORY" \
          --secured DB_PASSWORD --file -
    EOT

    environment = {
      PIPELINE_VARIABLES = jsonencode(local.pipeline_variables)
      TARGET_WORKSPACE   = var.workspace
      TARGET_REPOSITORY  = var.repository
    }
  }
}
