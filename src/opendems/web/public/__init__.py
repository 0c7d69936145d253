"""Pages for people outside the agency: the share portal (prosecutors, defence counsel)."""
