"""Bitbucket's API as bbvars uses it: the client, the transport (deadline, size caps, proxies, CAs), paging, what
Bitbucket's answers mean, and which failures are retried."""
