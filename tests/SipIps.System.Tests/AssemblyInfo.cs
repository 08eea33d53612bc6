using Xunit;

// The labs measure timing and capture frames on a 2-core machine: one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
