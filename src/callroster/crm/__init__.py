"""Click-to-call logs sent to an account's CRM: signed webhooks (signing.py, pure), the
account's webhook target (target.py, pure), where a webhook may go (destination.py), the
connections that go only there (transport.py) and their delivery with retries (webhook.py)."""
