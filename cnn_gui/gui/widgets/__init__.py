"""Generic widgets the panels and tabs share; they import nothing from them."""
