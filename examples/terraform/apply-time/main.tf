# Writes Pipelines variables on `terraform apply` only (never on plan), with no secret in the plan or the state:
#   TF_VAR_db_password=... terraform apply -var workspace=acme -var repository=api
# Credentials come from Terraform's environment (e.g. BITBUCKET_ACCESS_TOKEN), which the provisioner inherits.
terraform {
  required_version = ">= 1.11" # ephemeral input variables, kept out of plan and state
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
  ephemeral = true # never written to a plan file or the state
}

variable "secrets_version" {
  type        = number
  default     = 1
  description = "Raise it to write the secrets again (after a rotation): an ephemeral value cannot trigger that."
}

# Stands in for real infrastructure: a database, a load balancer, a bucket...
resource "terraform_data" "app" {
  input = { api_url = "https://api.example.com", replicas = 3 }
}

locals {
  plain_variables = { # stored in the state as they are: nothing secret here
    API_URL  = terraform_data.app.output.api_url
    REPLICAS = terraform_data.app.output.replicas
  }
}

resource "terraform_data" "pipeline_variables" {
  # Plain values and a version number, never a secret nor a hash of one: triggers are stored in the state.
  triggers_replace = [local.plain_variables, var.secrets_version]

  provisioner "local-exec" {
    # Values go through the environment and a pipe, never a command line (where `ps` shows them). Add
    # --environment NAME for a deployment environment, --prune to delete what this list no longer has.
    command = <<-EOT
      printf '%s' "$PIPELINE_VARIABLES" |
        bbvars sync --workspace "$TARGET_WORKSPACE" --repository "$TARGET_REPOSITORY" --secured DB_PASSWORD --file -
    EOT

    environment = {
      PIPELINE_VARIABLES = jsonencode(merge(local.plain_variables, { DB_PASSWORD = var.db_password }))
      TARGET_WORKSPACE   = var.workspace
      TARGET_REPOSITORY  = var.repository
    }
  }
}
