"""Collections: reminders, late fees, suspension and reconnection."""
