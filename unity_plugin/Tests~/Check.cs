// A tiny assertion helper for the mono test programs: every failed check is printed and
// counted, and the process exits non-zero when any failed (pytest reads both).
using System;

namespace Reverie.Tests
{
    static class Check
    {
        public static int Passed;
        public static int Failed;

        public static void That(bool condition, string what)
        {
            if (condition) { Passed++; return; }
            Failed++;
            Console.WriteLine("FAIL: " + what);
        }

        public static void Equal<T>(T expected, T actual, string what)
        {
            That(Equals(expected, actual), what + ": expected <" + expected + ">, got <" + actual + ">");
        }

        public static void Near(double expected, double actual, double tolerance, string what)
        {
            That(Math.Abs(expected - actual) <= tolerance, what + ": expected " + expected + " +- " + tolerance + ", got " + actual);
        }

        /// <summary>A call's result, with the library's last error in the message when it differs.</summary>
        public static void Result(ReverieResult expected, ReverieResult actual, string what)
        {
            That(expected == actual, what + ": expected " + expected + ", got " + actual + " (" + ReverieClient.LastError + ")");
        }

        public static int Summary(string name)
        {
            Console.WriteLine(name + ": " + Passed + " checks passed, " + Failed + " failed");
            return Failed == 0 ? 0 : 1;
        }
    }
}
