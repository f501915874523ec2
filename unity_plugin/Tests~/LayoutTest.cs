// Prints the C# mirrors of reverie.h's structs, enums and constants in layout.c's format,
// so the test can compare the two outputs: a wrong field order, size or value fails.
using System;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace Reverie.Tests
{
    static class LayoutTest
    {
        static readonly Type[] Structs =
        {
            typeof(ReverieConfig), typeof(FramePlanes), typeof(FrameInfo), typeof(FrameSource),
            typeof(OutputInfo), typeof(Preset), typeof(Status), typeof(ReverieEvent),
        };

        static readonly Type[] Enums =
        {
            typeof(ReverieResult), typeof(ConnectFlags), typeof(MotionFormat), typeof(FrameFlags),
            typeof(CopyFlags), typeof(ReverieEventType), typeof(ReverieLogLevel),
        };

        public static int Run()
        {
            foreach (var t in Structs)
            {
                Console.WriteLine("struct " + t.Name + " " + Marshal.SizeOf(t));
                var fields = t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
                    .Select(f => new { f.Name, Offset = (long)Marshal.OffsetOf(t, f.Name) })
                    .OrderBy(f => f.Offset);
                foreach (var f in fields)
                    Console.WriteLine("field " + t.Name + " " + f.Offset + " " + f.Name);
            }
            foreach (var t in Enums)
            {
                bool flags = t.GetCustomAttributes(typeof(FlagsAttribute), false).Length > 0;
                foreach (var name in Enum.GetNames(t))
                {
                    long value = Convert.ToInt64(Enum.Parse(t, name));
                    if (flags && value == 0) continue; // C has no "none" member for flag sets
                    Console.WriteLine("enum " + t.Name + " " + UpperSnake(name) + " " + value);
                }
            }
            Console.WriteLine("const TextCap " + Native.TextCap);
            Console.WriteLine("const NameCap " + Native.NameCap);
            Console.WriteLine("const MaxCounters " + Native.MaxCounters);
            Console.WriteLine("const ConsoleReplyCap " + Native.ConsoleReplyCap);
            Console.WriteLine("const Keep " + Native.Keep);
            Console.WriteLine("const ProtocolMajor " + Native.ProtocolMajor);
            Console.WriteLine("const ProtocolMinor " + Native.ProtocolMinor);
            Console.WriteLine("const AbiVersion " + Native.AbiVersion);
            Console.WriteLine("const SkyDepthMeters " + ((int)ReverieConventions.SkyDepthMeters).ToString(System.Globalization.CultureInfo.InvariantCulture));
            return 0;
        }

        static string UpperSnake(string name)
        {
            var sb = new StringBuilder();
            for (int i = 0; i < name.Length; i++)
            {
                if (i > 0 && char.IsUpper(name[i]) && char.IsLower(name[i - 1])) sb.Append('_');
                sb.Append(char.ToUpperInvariant(name[i]));
            }
            return sb.ToString();
        }
    }
}
