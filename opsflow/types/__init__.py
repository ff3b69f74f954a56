"""Value types shared by every stage: failures and notifiers."""
