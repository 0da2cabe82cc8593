"""Test support: throwaway servers and factories shared by the test packages."""
