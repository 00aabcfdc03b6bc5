# One Terraform state feeding two repositories, three deployment environments and the workspace: the outputs below
# are what bbvars.yml (next to this file) sends where. After `terraform apply`:
#
#   terraform output -json | bbvars sync --manifest bbvars.yml
#
# Credentials come from the environment: BITBUCKET_CLIENT_ID and BITBUCKET_CLIENT_SECRET (an OAuth consumer), or
# BITBUCKET_ACCESS_TOKEN.
#
#   TF_VAR_db_password=... terraform apply

terraform {
  required_version = ">= 1.4"
}

variable "db_password" {
  type      = string
  sensitive = true
}

# Stands in for real infrastructure: a database, a load balancer, a CDN...
resource "terraform_data" "platform" {
  input = {
    api_url = "https://api.example.com"
    cdn_url = "https://cdn.example.com"
    db_host = "db.internal.example.com"
    db_port = 5432
    region  = "eu-west-1"
  }
}

output "api_url" {
  value = terraform_data.platform.output.api_url
}

output "cdn_url" {
  value = terraform_data.platform.output.cdn_url
}

output "db_host" {
  value = terraform_data.platform.output.db_host
}

output "db_port" {
  value = terraform_data.platform.output.db_port
}

output "db_password" {
  value     = var.db_password
  sensitive = true # stored secured wherever the manifest sends it
}

output "region" {
  value = terraform_data.platform.output.region
}
