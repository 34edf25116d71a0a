"""Converters from each benchmark family's original raw format to a TabularBlackbox."""
