"""The seed request of the README: the body every layer's tests send."""

SEED = {
    "from": "hello@yourdomain.com",
    "to": ["customer@example.com"],
    "subject": "Welcome to YourBrand",
    "html": "<h1>Hi 👋</h1>",
    "tags": ["onboarding", "welcome"],
}
