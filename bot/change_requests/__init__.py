"""The settlement-account change itself: may the merchant file one (`prechecks`), the details and
documents it needs and filing it once (`filing`, `documents`), and what became of it (`status`)."""
