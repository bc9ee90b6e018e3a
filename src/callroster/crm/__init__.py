"""Click-to-call logs sent to an account's CRM: signed webhooks (signing.py, pure), the
account's webhook target (target.py, pure) and their delivery with retries (webhook.py)."""
