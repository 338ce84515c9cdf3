"""The job report page: loss curves drawn, findings in words."""
